"""Security: payload encryption (:mod:`.codec`), the codec server the Temporal UI decrypts
through (:mod:`.codec_server`), and API keys for the HTTP endpoints (:mod:`.api_keys`).

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
