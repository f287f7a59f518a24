"""The tests that ``make check`` leaves out: marked ``slow`` here, deselected there with
``-m "not slow"``; ``make test`` runs them all.

Each took 3 s or more on the 2-core machine (a whole-suite run with ``--durations``), nearly
always for the same reasons: a CLI or worker subprocess (its imports, often the model), an
ingest of ``examples/corpus``, a dev server killed and restarted, or a wait on a Temporal
timeout the test is about. ``make test`` prints its 25 slowest tests: one that shows there and
is not listed here belongs here. Kept as one list, not as decorators in the modules, so that the
edit loop's contents can be read (and changed) in one place; ``tests/test_slow_tests.py``
checks that every name still names a test.
"""

from __future__ import annotations

import pytest

#: Module file name -> test functions (every parametrization of each).
SLOW: dict[str, frozenset[str]] = {
    "test_abstention.py": frozenset({"test_out_of_domain_question_abstains_offline"}),
    "test_activities.py": frozenset({"test_discover_pages_stay_small"}),
    "test_anthropic.py": frozenset({"test_workflow_retries_a_429_after_retry_after"}),
    "test_cli.py": frozenset(
        {
            "test_ask_prints_the_answers_cost_and_json_carries_it",
            "test_ask_without_a_workflow_worker_says_so_at_once",
            "test_ingest_exits_2_when_documents_failed_and_lists_them",
            "test_status_and_ask_use_the_collection_of_the_option_or_of_RAGSTATE_COLLECTION",
            "test_status_exits_cleanly_every_time",
        }
    ),
    "test_chat_example.py": frozenset({"test_the_chat_example_holds_a_conversation_and_deletes_it"}),
    "test_condense.py": frozenset({"test_only_a_follow_up_runs_condense_question"}),
    "test_conversation_eval.py": frozenset({"test_eval_conversations_json_has_the_three_ways_and_the_session_helps"}),
    "test_deploy.py": frozenset({"test_every_container_command_names_a_real_entry_point"}),
    "test_durability.py": frozenset({"test_sigkill_mid_ingest_loses_and_duplicates_nothing"}),
    "test_encryption.py": frozenset({"test_nothing_readable_in_the_database_or_histories_and_replay_after_rotation"}),
    "test_evaluation.py": frozenset(
        {
            "test_baseline_gate_passes_on_the_defaults_and_fails_on_a_worse_setting",
            "test_evaluate_runs_every_judged_query_through_the_workflows",
        }
    ),
    "test_feedback.py": frozenset({"test_the_round_trip_rate_export_then_eval_and_gate_a_reindex_on_the_export"}),
    "test_gateway.py": frozenset(
        {
            "test_budget_exceeded_is_504_then_the_answer_can_be_fetched",
            "test_client_not_rate_limited_while_the_llm_is_only_unavailable",
            "test_client_raises_llm_rate_limited_when_the_run_failed_for_good",
            "test_client_reports_the_llm_rate_limit_wait_while_synthesize_retries",
            "test_llm_rate_limited_beyond_the_budget_is_429_and_the_workflow_goes_on",
            "test_llm_rate_limited_through_every_retry_is_502",
            "test_offline_answer_health_and_readiness",
            "test_schema_fuzzing_no_500s_and_json_errors",
            "test_the_429_comes_from_the_error_type_not_the_message",
        }
    ),
    "test_gateway_documents.py": frozenset({"test_list_and_delete_documents_over_http"}),
    "test_ingest_progress.py": frozenset(
        {
            "test_ctrl_c_says_the_ingest_goes_on_and_running_it_again_joins_it",
            "test_progress_counts_chunks_embedded_inside_a_batch_with_a_stable_total",
        }
    ),
    "test_lambda.py": frozenset({"test_lambda_worker_serves_ingest_and_query_within_one_invocation"}),
    "test_lifecycle.py": frozenset(
        {
            "test_collections_list_and_drop",
            "test_documents_and_collections_commands",
            "test_list_and_delete_documents_by_id_path_and_folder",
        }
    ),
    "test_llm_reliability.py": frozenset(
        {
            "test_a_busy_llm_queue_is_waited_for_not_taken_for_an_absent_worker",
            "test_a_refusal_is_not_replaced_by_the_extractive_answer",
            "test_a_stopped_llm_worker_is_still_noticed_as_absent",
            "test_an_llm_rate_limited_through_every_attempt_falls_back",
            "test_an_llm_worker_killed_mid_answer_is_noticed_by_its_heartbeat_and_replaced",
            "test_llm_fallback_fail_keeps_the_failure",
            "test_no_embeddings_worker_degrades_the_answer_in_seconds",
            "test_no_llm_worker_falls_back_to_the_extractive_answer",
        }
    ),
    "test_logs.py": frozenset(
        {
            "test_every_line_of_a_worker_and_the_gateway_is_json",
            "test_every_line_of_ragstate_up_is_json",
            "test_expected_failures_log_one_line_without_a_traceback",
        }
    ),
    "test_mcp.py": frozenset(
        {
            "test_agent_session_over_stdio",
            "test_http_needs_the_key_and_one_request_id_is_one_run",
        }
    ),
    "test_outage.py": frozenset(
        {
            "test_ask_follows_its_run_through_a_server_restart",
            "test_ask_stream_resumes_without_losing_or_repeating_events",
            "test_the_ingest_command_survives_a_server_restart",
        }
    ),
    "test_package.py": frozenset(
        {
            "test_public_api_imports_outside_the_repository",
            "test_repository_folders_import_as_ragstate_subpackages",
        }
    ),
    "test_redrive.py": frozenset({"test_only_retryable_failures_are_ingested_again_as_a_new_ingest"}),
    "test_reindex.py": frozenset(
        {
            "test_a_hundred_question_gate_keeps_the_reindex_history_small",
            "test_a_reindex_keeps_the_documents_summaries_without_making_them_again",
            "test_approval_switches_and_a_rejection_or_no_decision_keeps_the_live_version",
            "test_the_gate_switches_to_an_equal_index_and_refuses_a_worse_one",
            "test_the_old_version_serves_through_the_grace",
        }
    ),
    # The committed histories' replay stays in the edit loop; a fresh run of every type is slow.
    "test_replay.py": frozenset({"test_a_fresh_run_of_every_workflow_type_replays"}),
    "test_run_details.py": frozenset(
        {
            "test_a_default_query_run_lists_its_five_states_with_durations",
            "test_a_degraded_run_says_which_branch_failed_and_why",
            "test_an_llm_run_shows_its_retry_tokens_and_cost",
        }
    ),
    "test_schedules.py": frozenset({"test_schedule_add_list_pause_resume_trigger_delete"}),
    "test_streaming.py": frozenset(
        {
            "test_a_consumer_that_stops_early_leaves_the_query_running",
            "test_a_retried_synthesis_restarts_the_answer",
            "test_llm_answer_streams_steps_then_tokens_then_final",
            "test_offline_answers_stream_and_statuses",
            "test_sync_client",
        }
    ),
    "test_summarize.py": frozenset(
        {
            "test_a_bulk_run_waits_for_its_batch_across_a_server_restart",
            "test_a_bulk_run_waits_for_one_message_batch_across_a_worker_restart",
            "test_a_run_of_several_pages_makes_one_batch_per_page_and_adds_them_up",
            "test_a_small_run_calls_the_messages_api_per_document_with_usage_and_cost",
            "test_errored_and_expired_batch_requests_are_failures_with_their_reason_and_the_rest_is_kept",
            "test_offline_summaries_are_extractive_stored_listed_and_searchable",
            "test_sqs_s3_events_summarize_when_configured",
        }
    ),
    "test_sync.py": frozenset(
        {
            "test_a_sync_killed_half_way_and_retried_ends_in_the_same_state",
            "test_ask_source_of_a_deleted_file_answers_nothing_after_sync",
            "test_sync_prunes_records_gone_from_a_jsonl_file_and_only_under_its_paths",
            "test_sync_removes_a_deleted_file_from_keyword_and_vector_results",
        }
    ),
    "test_telemetry.py": frozenset({"test_one_trace_per_query_and_the_metrics_it_moves"}),
    "test_workers.py": frozenset(
        {
            "test_entry_point_serves_its_roles_and_exits_0_on_sigterm",
            "test_light_worker_never_imports_torch",
        }
    ),
    "test_workers_cloud_run.py": frozenset({"test_cloud_run_service_drains_an_llm_call_on_sigterm"}),
    "test_workers_mixed_pool.py": frozenset({"test_a_local_step_the_worker_lacks_runs_on_its_own_queue"}),
    "test_workers_registry.py": frozenset({"test_build_workers_makes_the_specs_workers_and_replaces_by_name"}),
    "test_workflows.py": frozenset(
        {
            "test_bad_queries_fail_fast_and_are_not_retried",
            "test_both_branches_failing_fails_the_query",
            "test_embedding_batches_fall_back_to_cpu_when_no_gpu_worker_polls",
            "test_embedding_batches_go_to_the_gpu_worker_when_one_polls",
            "test_end_to_end_on_the_qdrant_client_backend",
            "test_failed_documents_are_recorded_and_the_rest_go_on",
            "test_ingest_examples_then_ask",
            "test_long_ingests_continue_as_new_without_losing_anything",
            "test_one_failing_branch_degrades_the_answer",
            "test_query_with_the_llm_through_the_real_sdk",
            "test_reingest_is_idempotent_and_replaces_changed_documents",
        }
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: 3 s or more; left out of `make check` (listed in tests/slow_tests.py)")


# First: `-m "not slow"` deselects in the mark plugin's own hook, which must see these marks.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if getattr(item, "originalname", item.name) in SLOW.get(item.path.name, ()):
            item.add_marker(pytest.mark.slow)
