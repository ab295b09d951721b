"""What the production stack promises, read from the templates themselves (no AWS needed).

Emulators skip some of these settings (LocalStack ignores bucket lifecycle rules, moto cannot
create the production root stack at all, see test_moto.py), so they are asserted here.
"""

import json
import re

import pytest

from conftest import INFRA, resources


def render(value):
    """A Resource/Value as one string: `${X.Y}` for Fn::Sub text, `<GetAtt X.Y>`, `<Ref X>`."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return "<GetAtt " + (att if isinstance(att, str) else ".".join(att)) + ">"
    if "Ref" in value:
        return f"<Ref {value['Ref']}>"
    raise AssertionError(f"unexpected value {value!r}")


def as_list(value):
    return value if isinstance(value, list) else [value]


def ref_name(value):
    """The logical id behind `!Ref X` or `!GetAtt X.Attr`, else None."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return (att.split(".")[0] if isinstance(att, str) else att[0])
    return None


def env(container):
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def container(production, task_definition):
    (c,) = production["Resources"][task_definition]["Properties"]["ContainerDefinitions"]
    return c


# ---- scaling ------------------------------------------------------------------------------


def test_worker_scales_on_backlog_per_task_metric_math(production):
    res = production["Resources"]
    policy = res["WorkerBacklogPolicy"]["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert ref_name(policy["ScalingTargetId"]) == "WorkerScalableTarget"
    target = res["WorkerScalableTarget"]["Properties"]
    assert "${WorkerService.Name}" in render(target["ResourceId"])
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert target["MinCapacity"] == {"Ref": "WorkerMinTasks"}
    assert target["MaxCapacity"] == {"Ref": "WorkerMaxTasks"}

    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == {"Ref": "WorkerBacklogPerTaskTarget"}
    queries = {q["Id"]: q for q in config["CustomizedMetricSpecification"]["Metrics"]}

    def metric_id(namespace, name):
        ids = [
            i
            for i, q in queries.items()
            if q.get("MetricStat", {}).get("Metric", {}).get("Namespace") == namespace
            and q["MetricStat"]["Metric"]["MetricName"] == name
        ]
        assert len(ids) == 1, f"one {namespace} {name} query expected, got {ids}"
        return ids[0], {
            d["Name"]: d["Value"] for d in queries[ids[0]]["MetricStat"]["Metric"]["Dimensions"]
        }

    visible, visible_dims = metric_id("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert visible_dims == {"QueueName": {"Fn::GetAtt": ["Messaging", "Outputs.QueueName"]}}
    running, running_dims = metric_id("ECS/ContainerInsights", "RunningTaskCount")
    assert ref_name(running_dims["ServiceName"]) == "WorkerService"
    assert ref_name(running_dims["ClusterName"]) == "Cluster"

    returned = [q for q in queries.values() if q.get("ReturnData", True)]
    assert len(returned) == 1, "exactly one query may return data"
    expression = returned[0]["Expression"].replace(" ", "")
    assert expression.startswith(f"{visible}/"), expression
    assert running in expression.split("/", 1)[1], expression
    # Zero running tasks must not divide by zero (or leave the metric without data).
    assert f"FILL({running},0)" in expression, expression


def test_worker_scale_from_zero_starts_one_task_on_any_backlog(production):
    res = production["Resources"]
    assert production["Parameters"]["WorkerMinTasks"]["MinValue"] == 0
    policy = res["WorkerStartFromZeroPolicy"]
    assert policy["Condition"] == "WorkerScalesToZero"
    step = policy["Properties"]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ExactCapacity"
    assert [a["ScalingAdjustment"] for a in step["StepAdjustments"]] == [1]
    alarm = res["WorkerBacklogWithoutTaskAlarm"]
    assert alarm["Condition"] == "WorkerScalesToZero"
    assert [ref_name(a) for a in alarm["Properties"]["AlarmActions"]] == ["WorkerStartFromZeroPolicy"]
    (expr,) = [m["Expression"] for m in alarm["Properties"]["Metrics"] if "Expression" in m]
    assert "visible>=1" in expr.replace(" ", "") and "FILL(running,0)==0" in expr.replace(" ", "")


def test_api_scales_on_requests_per_target(production):
    res = production["Resources"]
    config = res["ApiRequestsPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    spec = config["PredefinedMetricSpecification"]
    assert spec["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert "${ApiTargetGroup.TargetGroupFullName}" in render(spec["ResourceLabel"])
    assert "${ApiService.Name}" in render(res["ApiScalableTarget"]["Properties"]["ResourceId"])


# ---- alarms -------------------------------------------------------------------------------


def test_every_alarm_has_an_action(templates):
    alarms = 0
    for name, template in templates.items():
        for alarm, props in resources(template, "AWS::CloudWatch::Alarm"):
            alarms += 1
            actions = props.get("AlarmActions") or []
            assert actions, f"{name}: alarm {alarm} has no AlarmActions"
            for action in actions:
                target = ref_name(action)
                assert target in template["Resources"], f"{alarm}: action {action!r} is not ours"
                assert template["Resources"][target]["Type"] in (
                    "AWS::SNS::Topic",
                    "AWS::ApplicationAutoScaling::ScalingPolicy",
                ), f"{alarm}: action {target} is neither a topic nor a scaling policy"
    assert alarms >= 12


def test_the_alarms_of_the_issue_exist(production):
    metrics = set()
    for _, props in resources(production, "AWS::CloudWatch::Alarm"):
        if "MetricName" in props:
            metrics.add((props["Namespace"], props["MetricName"]))
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                m = query["MetricStat"]["Metric"]
                metrics.add((m["Namespace"], m["MetricName"]))
    for expected in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),  # DLQ has messages
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/RDS", "DatabaseConnections"),
        ("ECS/ContainerInsights", "RunningTaskCount"),
        ("ECS/ContainerInsights", "DesiredTaskCount"),
    ]:
        assert expected in metrics, f"no alarm on {expected}"
    dlq = production["Resources"]["DlqNotEmptyAlarm"]["Properties"]
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["Messaging", "Outputs.DlqName"]}


# ---- IAM ----------------------------------------------------------------------------------

BUCKET = "${Messaging.Outputs.BucketArn}"

API_GRANTS = {
    ("s3:PutObject", f"{BUCKET}/uploads/*"),
    ("s3:GetObject", f"{BUCKET}/uploads/*"),
    ("s3:DeleteObject", f"{BUCKET}/uploads/*"),
    ("s3:AbortMultipartUpload", f"{BUCKET}/uploads/*"),
    ("s3:DeleteObject", f"{BUCKET}/chunks/*"),  # issue 16: DELETE /files/{id}
    ("s3:GetObject", f"{BUCKET}/icons/*"),  # issue 15: serves icons
    ("s3:PutObject", f"{BUCKET}/icons/*"),  # issue 15: resolves a domain on demand
    ("s3:ListBucket", "<GetAtt Messaging.Outputs.BucketArn>"),  # /ready: HeadBucket
    ("sns:Publish", "<GetAtt Messaging.Outputs.TopicArn>"),
    ("sns:GetTopicAttributes", "<GetAtt Messaging.Outputs.TopicArn>"),  # /ready
}

WORKER_GRANTS = {
    ("s3:GetObject", f"{BUCKET}/uploads/*"),
    ("s3:GetObject", f"{BUCKET}/chunks/*"),
    ("s3:PutObject", f"{BUCKET}/chunks/*"),
    ("s3:GetObject", f"{BUCKET}/icons/*"),
    ("s3:PutObject", f"{BUCKET}/icons/*"),
} | {
    (action, queue)
    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
    )
    for queue in ("<GetAtt Messaging.Outputs.QueueArn>", "<GetAtt Messaging.Outputs.DlqArn>")
}


def grants(role):
    """Every (action, resource) pair the role's inline policies allow."""
    pairs = set()
    assert "ManagedPolicyArns" not in role, "task roles get inline, scoped policies only"
    for policy in role.get("Policies", []):
        for st in as_list(policy["PolicyDocument"]["Statement"]):
            assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st
            for action in as_list(st["Action"]):
                for resource in as_list(st["Resource"]):
                    pairs.add((action, render(resource)))
    return pairs


def ecs_task_roles(production):
    return {
        name: props
        for name, props in resources(production, "AWS::IAM::Role")
        if any(
            s["Principal"].get("Service") == "ecs-tasks.amazonaws.com"
            for s in as_list(props["AssumeRolePolicyDocument"]["Statement"])
        )
    }


def test_no_task_role_has_wildcard_resources_on_s3_sqs_or_sns(production):
    roles = ecs_task_roles(production)
    assert set(roles) == {"TaskExecutionRole", "ApiTaskRole", "WorkerTaskRole"}
    for name, role in roles.items():
        for action, resource in grants(role):
            service = action.split(":")[0]
            assert action != "*" and not action.endswith(":*"), f"{name}: {action}"
            if service in ("s3", "sqs", "sns"):
                assert resource != "*", f"{name}: {action} on *"
                assert "Messaging.Outputs." in resource, f"{name}: {action} on {resource}"
                # Only a trailing /prefix/* below our bucket may hold a wildcard.
                assert "*" not in resource or re.fullmatch(
                    re.escape(BUCKET) + r"/[a-z]+/\*", resource
                ), f"{name}: {action} on {resource}"


def test_task_roles_grant_exactly_what_each_binary_uses(production):
    res = production["Resources"]
    assert grants(res["ApiTaskRole"]["Properties"]) == API_GRANTS
    assert grants(res["WorkerTaskRole"]["Properties"]) == WORKER_GRANTS
    execution = grants(res["TaskExecutionRole"]["Properties"])
    assert {a for a, _ in execution} == {
        "ecr:GetAuthorizationToken",  # account-wide by design: the only "*"
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
    }
    assert {r for a, r in execution if r == "*"} == {"*"}
    assert all(r != "*" for a, r in execution if a != "ecr:GetAuthorizationToken")
    tasks = {n: p["Properties"] for n, p in production["Resources"].items()
             if p["Type"] == "AWS::ECS::TaskDefinition"}
    assert ref_name(tasks["ApiTaskDefinition"]["TaskRoleArn"]) == "ApiTaskRole"
    assert ref_name(tasks["WorkerTaskDefinition"]["TaskRoleArn"]) == "WorkerTaskRole"
    assert "TaskRoleArn" not in tasks["MigrationTaskDefinition"], "migrations need no AWS API"


# ---- tasks and services -------------------------------------------------------------------


@pytest.mark.parametrize(
    "task", ["ApiTaskDefinition", "WorkerTaskDefinition", "MigrationTaskDefinition"]
)
def test_database_credentials_come_from_the_rds_secret(production, task):
    c = container(production, task)
    variables = env(c)
    assert "DATABASE_URL" not in variables
    assert "DATABASE_USER" not in variables and "DATABASE_PASSWORD" not in variables
    assert {"DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME"} <= set(variables)
    secrets = {s["Name"]: render(s["ValueFrom"]) for s in c["Secrets"]}
    assert secrets == {
        "DATABASE_USER": "${Database.MasterUserSecret.SecretArn}:username::",
        "DATABASE_PASSWORD": "${Database.MasterUserSecret.SecretArn}:password::",
    }
    assert c["ReadonlyRootFilesystem"] is True


def test_each_binary_gets_its_own_configuration(production):
    api = env(container(production, "ApiTaskDefinition"))
    worker = env(container(production, "WorkerTaskDefinition"))
    assert api["RUN_MIGRATIONS"] == "false", "the migration task migrates, before services roll"
    assert not [n for n in api if n.startswith(("WORKER_", "RESOLVER_", "SHUTDOWN_"))]
    assert not [n for n in worker if n.startswith(("API_", "RATE_LIMIT_", "RUN_MIGRATIONS"))]
    assert "AWS_ENDPOINT_OVERRIDE" not in api and "AWS_ENDPOINT_OVERRIDE" not in worker
    assert not {"SQS_QUEUE_URL", "SQS_DLQ_URL"} & set(api), "the api never reads the queues"
    assert not {"SNS_TOPIC_ARN", "S3_BUCKET"} & set(worker), "the worker never reads them"


def test_worker_has_time_to_release_its_leases_on_sigterm(production):
    c = container(production, "WorkerTaskDefinition")
    grace = int(env(c)["SHUTDOWN_GRACE_SECS"])
    assert c["StopTimeout"] <= 120, "Fargate's maximum"
    assert c["StopTimeout"] >= grace + 20, "finish within the grace, then release, then exit"


def test_migration_task_runs_the_migration_binary(production):
    c = container(production, "MigrationTaskDefinition")
    assert c["EntryPoint"] == ["/usr/local/bin/migration"] and c["Command"] == ["up"]


def test_services_roll_back_failed_deployments(production):
    for name in ("ApiService", "WorkerService"):
        props = production["Resources"][name]["Properties"]
        assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
            "Enable": True,
            "Rollback": True,
        }
        assert props["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
        assert "DesiredCount" not in props, "autoscaling owns the count; a deploy must not reset it"
    cluster = production["Resources"]["Cluster"]["Properties"]
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]


# ---- load balancer ------------------------------------------------------------------------


def test_load_balancer_serves_https_redirects_http_and_hides_metrics(production):
    res = production["Resources"]
    https = res["HttpsListener"]["Properties"]
    assert https["Protocol"] == "HTTPS" and https["Port"] == 443
    assert https["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    http = res["HttpListener"]["Properties"]
    (redirect,) = http["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    rule = res["HideMetricsRule"]["Properties"]
    assert ref_name(rule["ListenerArn"]) == "HttpsListener"
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/metrics", "/metrics/*"]
    assert rule["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    tg = res["ApiTargetGroup"]["Properties"]
    assert tg["HealthCheckPath"] == "/health" and tg["Port"] == 8080


def test_database_is_private_encrypted_and_backed_up(production):
    db = production["Resources"]["Database"]
    props = db["Properties"]
    assert props["Engine"] == "postgres" and props["EngineVersion"].startswith("16.")
    assert props["StorageEncrypted"] is True
    assert props["BackupRetentionPeriod"] == 7
    assert props["ManageMasterUserPassword"] is True and "MasterUserPassword" not in props
    assert props["PubliclyAccessible"] is False
    assert props["MultiAZ"] == {"Ref": "DatabaseMultiAz"}
    assert db["DeletionPolicy"] == "Snapshot"
    ingress = production["Resources"]["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert sorted(ref_name(r["SourceSecurityGroupId"]) for r in ingress) == [
        "ApiSecurityGroup",
        "WorkerSecurityGroup",
    ]
    assert all("CidrIp" not in r for r in ingress)


# ---- network and storage ------------------------------------------------------------------


def test_network_has_nat_and_the_vpc_endpoints(templates):
    network = templates["network.yaml"]
    services = {
        render(p["ServiceName"]).rsplit(".", 1)[-1] if ".ecr." not in render(p["ServiceName"])
        else render(p["ServiceName"]).split("}.", 1)[1]
        for _, p in resources(network, "AWS::EC2::VPCEndpoint")
    }
    assert services == {"s3", "sqs", "sns", "ecr.api", "ecr.dkr", "logs", "secretsmanager"}
    assert len(resources(network, "AWS::EC2::NatGateway")) == 2  # the second one is optional
    subnets = dict(resources(network, "AWS::EC2::Subnet"))
    assert set(subnets) == {"PublicSubnetA", "PublicSubnetB", "PrivateSubnetA", "PrivateSubnetB"}
    assert all(not p.get("MapPublicIpOnLaunch") for p in subnets.values())


def test_bucket_is_private_tls_only_and_expires_what_it_should(templates):
    messaging = templates["messaging.yaml"]
    bucket = messaging["Resources"]["UploadsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 7
    }
    assert rules["expire-chunks"]["Prefix"] == "chunks/"
    assert rules["expire-chunks"]["ExpirationInDays"] == {"Ref": "ChunksExpirationDays"}
    (statement,) = messaging["Resources"]["UploadsBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_production_nests_the_messaging_template_localstack_deploys(production):
    nested = production["Resources"]["Messaging"]
    assert nested["Type"] == "AWS::CloudFormation::Stack"
    assert nested["Properties"]["TemplateURL"] == "messaging.yaml"
    assert production["Resources"]["Network"]["Properties"]["TemplateURL"] == "network.yaml"


def test_outputs_name_the_url_resources_and_log_groups(production):
    outputs = production["Outputs"]
    for key in ("ServiceUrl", "BucketName", "QueueUrl", "DlqUrl", "TopicArn",
                "ApiLogGroup", "WorkerLogGroup", "MigrationLogGroup"):
        assert key in outputs, key
    for name, props in resources(production, "AWS::Logs::LogGroup"):
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert production["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_every_checkov_skip_has_a_one_line_reason(templates):
    skips = 0
    for name, template in templates.items():
        for logical_id, res in template["Resources"].items():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                skips += 1
                assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, logical_id, skip)
                comment = skip.get("comment", "")
                assert len(comment) > 15 and "\n" not in comment, (name, logical_id, skip)
    assert skips > 0


# ---- per-environment files of scripts/deploy ----------------------------------------------

SET_BY_DEPLOY = {"EnvName", "ImageTag", "MigrationImageTag"}


def env_files():
    return sorted((INFRA / "env").glob("*.json"))


def test_there_is_an_example_environment():
    assert (INFRA / "env" / "example.json") in env_files()


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_environment_files_name_only_real_parameters(production, path):
    config = json.loads(path.read_text(encoding="utf-8"))
    assert set(config) <= {"Comment", "Region", "Parameters"}, path.name
    assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", config["Region"]), config["Region"]
    parameters = config["Parameters"]
    declared = production["Parameters"]
    unknown = set(parameters) - set(declared)
    assert not unknown, f"{path.name}: not parameters of production.yaml: {unknown}"
    assert not set(parameters) & SET_BY_DEPLOY, f"{path.name}: scripts/deploy sets these"
    required = {n for n, p in declared.items() if "Default" not in p} - SET_BY_DEPLOY
    assert required <= set(parameters), f"{path.name}: missing {required - set(parameters)}"
    for name, value in parameters.items():
        assert isinstance(value, str), f"{path.name}: {name} must be a string"
        spec = declared[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (name, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
