"""The gateway's Lambda handler at its old path, so that a deployed function whose handler is
``ragstate.gateway_lambda.handler`` keeps working after an upgrade. New deployments name
``ragstate.gateway.aws_lambda.handler``; this alias goes in a later major version."""

from ragstate.gateway.aws_lambda import handler

__all__ = ["handler"]
