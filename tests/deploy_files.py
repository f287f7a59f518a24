"""The deploy files as the tests read them: deploy/aws/template.yaml (the SAM template) with
CloudFormation's short-form intrinsics expanded (tests/test_deploy.py, tests/test_lambda.py)."""

from __future__ import annotations

import yaml  # the dev extra has pyyaml: a missing one must fail, not skip
from paths import ROOT

SAM_TEMPLATE = ROOT / "deploy" / "aws" / "template.yaml"


def sam_template() -> dict:
    """deploy/aws/template.yaml, with CloudFormation's short-form intrinsics (!Ref, !GetAtt, ...) as
    their long forms."""

    class CloudFormationLoader(yaml.SafeLoader):
        pass

    def intrinsic(loader, tag_suffix, node):
        name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag_suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    CloudFormationLoader.add_multi_constructor("!", intrinsic)
    return yaml.load(SAM_TEMPLATE.read_text(encoding="utf-8"), Loader=CloudFormationLoader)
