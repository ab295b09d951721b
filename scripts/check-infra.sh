#!/usr/bin/env bash
# Check infra/messaging.yaml: cfn-lint, then deploy it on the running LocalStack as a
# throw-away stack (unique prefix), verify outputs, bucket settings, SNS -> SQS raw delivery
# and redrive to the DLQ after 3 receives, then delete the stack. Non-zero exit on failure.
#   localstack/start.sh && scripts/check-infra.sh
# Env: CHECK_INFRA_KEEP_STACK=1 keeps the stack for inspection; CHECK_INFRA_TEMPLATE overrides the template.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPLATE="${CHECK_INFRA_TEMPLATE:-$REPO_ROOT/infra/messaging.yaml}"
t0="$(now)"

ensure_tools_venv
log "cfn-lint $CFN_LINT_VERSION: $TEMPLATE"
"$TOOLS_VENV/bin/cfn-lint" -- "$TEMPLATE" || die "cfn-lint reported problems"

localstack_healthy || die "LocalStack does not answer at $LOCALSTACK_URL: run localstack/start.sh first"
[[ -x "$LOCALSTACK_VENV/bin/python" ]] || die "missing $LOCALSTACK_VENV (boto3): run localstack/start.sh first"

prefix="t$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')-"
stack="favicon-check-${prefix%-}"
log "deploying $TEMPLATE as stack $stack (Prefix=$prefix) on $LOCALSTACK_URL"

"$LOCALSTACK_VENV/bin/python" - "$TEMPLATE" "$stack" "$prefix" "$LOCALSTACK_URL" "$AWS_REGION" \
  "${CHECK_INFRA_KEEP_STACK:-0}" <<'PY'
import json
import sys
import time
import uuid

import boto3
from botocore.exceptions import ClientError

template_path, stack, prefix, endpoint, region, keep = sys.argv[1:7]
kw = dict(endpoint_url=endpoint, region_name=region,
          aws_access_key_id="test", aws_secret_access_key="test")
cfn = boto3.client("cloudformation", **kw)
s3 = boto3.client("s3", **kw)
sns = boto3.client("sns", **kw)
sqs = boto3.client("sqs", **kw)
failures = []
T0 = time.monotonic()


def say(msg):
    print(f"[check-infra] {time.monotonic() - T0:5.1f}s {msg}", file=sys.stderr, flush=True)


def check(cond, msg):
    say(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)
    return cond


def wait_stack(final, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except ClientError as e:
            if final == "DELETE_COMPLETE" and "does not exist" in str(e):
                return {"StackStatus": "DELETE_COMPLETE"}
            raise
        if s["StackStatus"] == final or not s["StackStatus"].endswith("_IN_PROGRESS"):
            return s
        if time.monotonic() > deadline:
            raise RuntimeError(f"stack {stack} still {s['StackStatus']} after {timeout}s")
        time.sleep(0.25)


def receive(url, visibility=None, wait=5, attrs=False):
    args = dict(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=wait)
    if visibility is not None:
        args["VisibilityTimeout"] = visibility
    if attrs:
        args["MessageAttributeNames"] = ["All"]
        args["AttributeNames"] = ["All"]
    return sqs.receive_message(**args).get("Messages", [])


created = False
try:
    with open(template_path, encoding="utf-8") as fd:
        body = fd.read()
    cfn.create_stack(StackName=stack, TemplateBody=body,
                     Parameters=[{"ParameterKey": "Prefix", "ParameterValue": prefix}])
    created = True
    s = wait_stack("CREATE_COMPLETE")
    if not check(s["StackStatus"] == "CREATE_COMPLETE", f"stack {stack} is {s['StackStatus']}"):
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        for e in events:
            if "FAILED" in e.get("ResourceStatus", ""):
                say(f"     {e['LogicalResourceId']}: {e.get('ResourceStatusReason')}")
        raise SystemExit(1)
    say("stack CREATE_COMPLETE")

    out = {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}
    for key in ("BucketName", "TopicArn", "QueueUrl", "QueueArn", "DlqUrl", "DlqArn"):
        check(bool(out.get(key)), f"output {key} = {out.get(key)!r}")
    if failures:
        raise SystemExit(1)
    account = boto3.client("sts", **kw).get_caller_identity()["Account"]
    check(out["BucketName"] == f"{prefix}favicon-uploads-{account}-{region}", "bucket name pattern")
    check(out["TopicArn"].endswith(f":{prefix}file-processing"), "topic name")
    check(out["QueueArn"].endswith(f":{prefix}file-processing-queue"), "queue name")
    check(out["DlqArn"].endswith(f":{prefix}file-processing-dlq"), "dlq name")

    # Bucket: private and encrypted.
    bucket = out["BucketName"]
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    check(all(pab.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy",
                                           "IgnorePublicAcls", "RestrictPublicBuckets")),
          f"bucket public access block {pab}")
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    check(enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", "bucket SSE AES256")
    # LocalStack 4.13.1's AWS::S3::Bucket provider ignores LifecycleConfiguration, so the
    # lifecycle rules are asserted by infra/tests (template) and the moto deployment instead.
    bp = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    check(any(st.get("Effect") == "Deny"
              and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
              for st in bp.get("Statement", [])),
          "bucket policy denies requests without TLS")

    # Queues.
    qa = sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["All"])["Attributes"]
    check(qa.get("VisibilityTimeout") == "300", f"queue VisibilityTimeout {qa.get('VisibilityTimeout')}")
    check(qa.get("MessageRetentionPeriod") == "345600", f"queue retention {qa.get('MessageRetentionPeriod')}")
    rp = json.loads(qa.get("RedrivePolicy", "{}"))
    check(rp.get("deadLetterTargetArn") == out["DlqArn"] and int(rp.get("maxReceiveCount", 0)) == 3,
          f"queue RedrivePolicy {rp}")
    policy = json.loads(qa.get("Policy", "{}"))
    st = (policy.get("Statement") or [{}])[0]
    check(st.get("Action") == "sqs:SendMessage"
          and st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn") == out["TopicArn"],
          "queue policy: only sqs:SendMessage from the topic")
    da = sqs.get_queue_attributes(QueueUrl=out["DlqUrl"], AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    check(da.get("MessageRetentionPeriod") == "1209600", f"dlq retention {da.get('MessageRetentionPeriod')}")

    # Subscription: sqs, raw delivery.
    subs = sns.list_subscriptions_by_topic(TopicArn=out["TopicArn"])["Subscriptions"]
    check(len(subs) == 1 and subs[0]["Protocol"] == "sqs" and subs[0]["Endpoint"] == out["QueueArn"],
          "one sqs subscription to the queue")
    if subs:
        sa = sns.get_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"])["Attributes"]
        check(sa.get("RawMessageDelivery") == "true", "subscription RawMessageDelivery=true")

    # SNS -> SQS raw delivery.
    payload = json.dumps({"check": str(uuid.uuid4())})
    sns.publish(TopicArn=out["TopicArn"], Message=payload,
                MessageAttributes={"kind": {"DataType": "String", "StringValue": "check"}})
    msgs = receive(out["QueueUrl"], wait=10, attrs=True)
    check(len(msgs) == 1 and msgs[0]["Body"] == payload, "published message arrives raw in the queue")
    if msgs:
        check(msgs[0].get("MessageAttributes", {}).get("kind", {}).get("StringValue") == "check",
              "message attribute delivered")
        sqs.delete_message(QueueUrl=out["QueueUrl"], ReceiptHandle=msgs[0]["ReceiptHandle"])

    # Redrive: received 3 times without delete -> moved to the DLQ.
    payload = json.dumps({"poison": str(uuid.uuid4())})
    sns.publish(TopicArn=out["TopicArn"], Message=payload)
    for i in range(1, 4):
        msgs = receive(out["QueueUrl"], visibility=1, wait=5)
        check(len(msgs) == 1 and msgs[0]["Body"] == payload, f"receive #{i} of the poison message")
        time.sleep(1.1)
    # The next receive attempt moves it (maxReceiveCount exceeded); the main queue gives nothing.
    msgs = receive(out["QueueUrl"], visibility=1, wait=1)
    check(not msgs, "4th receive on the main queue gets nothing")
    msgs = receive(out["DlqUrl"], wait=5)
    check(len(msgs) == 1 and msgs[0]["Body"] == payload, "poison message is in the DLQ")
finally:
    if created and keep != "1":
        try:
            cfn.delete_stack(StackName=stack)
            s = wait_stack("DELETE_COMPLETE")
            check(s["StackStatus"] == "DELETE_COMPLETE", f"stack deleted ({s['StackStatus']})")
        except Exception as e:  # report, but keep the original failure if any
            check(False, f"delete stack {stack}: {e}")
    elif created:
        say(f"keeping stack {stack} (CHECK_INFRA_KEEP_STACK=1)")

if failures:
    say(f"{len(failures)} check(s) failed")
    sys.exit(1)
say("all checks passed")
PY
log "infra check passed in $(( $(now) - t0 ))s"
