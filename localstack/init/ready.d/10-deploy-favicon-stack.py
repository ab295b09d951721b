# LocalStack "ready" init hook: deploy infra/messaging.yaml as stack favicon-dev (Prefix dev-).
#
# LocalStack exec()s .py hooks inside its own Python process, so boto3 is always available
# (host venv and the localstack/localstack image alike) and sys.exit must not be used:
# raising an exception marks the hook as ERROR in /_localstack/init/ready.
#
# Env (all optional):
#   FAVICON_TEMPLATE   template path   (default: /etc/localstack/infra/messaging.yaml,
#                                       the docker-compose mount; start.sh sets the repo path)
#   FAVICON_STACK      stack name      (default: favicon-dev)
#   FAVICON_PREFIX     Prefix param    (default: dev-)
#   FAVICON_ENDPOINT   LocalStack URL  (default: LocalStack's own internal URL)
#   FAVICON_DEPLOY_TIMEOUT  seconds    (default: 90)
import os
import time

import boto3
from botocore.exceptions import ClientError


def _favicon_endpoint():
    url = os.environ.get("FAVICON_ENDPOINT")
    if url:
        return url
    try:
        from localstack import config

        return config.internal_service_url()
    except Exception:  # pragma: no cover - fallback outside LocalStack
        return "http://localhost:4566"


def _favicon_deploy():
    started = time.monotonic()
    template_path = os.environ.get("FAVICON_TEMPLATE", "/etc/localstack/infra/messaging.yaml")
    stack = os.environ.get("FAVICON_STACK", "favicon-dev")
    prefix = os.environ.get("FAVICON_PREFIX", "dev-")
    timeout = float(os.environ.get("FAVICON_DEPLOY_TIMEOUT", "90"))
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"

    cfn = boto3.client(
        "cloudformation",
        endpoint_url=_favicon_endpoint(),
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    status = None
    try:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" not in str(e):
            raise
    if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        print(f"[favicon-init] stack {stack} already exists ({status}); nothing to do", flush=True)
        return
    if status is not None and not status.endswith("_IN_PROGRESS"):
        raise RuntimeError(f"stack {stack} exists in state {status}; delete it and restart")

    if status is None:
        with open(template_path, encoding="utf-8") as fd:
            body = fd.read()
        cfn.create_stack(
            StackName=stack,
            TemplateBody=body,
            Parameters=[{"ParameterKey": "Prefix", "ParameterValue": prefix}],
        )
        print(f"[favicon-init] create-stack {stack} (Prefix={prefix!r}) from {template_path}", flush=True)

    deadline = started + timeout
    while True:
        s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        status = s["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("_IN_PROGRESS"):
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                for e in events
                if "FAILED" in e.get("ResourceStatus", "")
            ]
            raise RuntimeError(f"stack {stack} ended in {status}: {reasons}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"stack {stack} still {status} after {timeout:.0f}s")
        time.sleep(0.25)

    outputs = {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}
    print(
        f"[favicon-init] stack {stack} CREATE_COMPLETE in {time.monotonic() - started:.1f}s: {outputs}",
        flush=True,
    )


_favicon_deploy()
