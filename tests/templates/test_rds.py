"""The nested database stack: encrypted, private, TLS only, RDS-managed password."""

from __future__ import annotations

from service import contract
from templates_src.rds import ENGINE_MAJOR_VERSION
from tests.templates.cfn import Doc, props, resources

KEY = {"Fn::GetAtt": ["DataKey", "Arn"]}


def _instances(rds_t: Doc) -> dict[str, Doc]:
    return resources(rds_t, "AWS::RDS::DBInstance")


def test_storage_and_master_secret_are_encrypted_with_the_customer_managed_key(rds_t: Doc) -> None:
    for instance in _instances(rds_t).values():
        p = props(instance)
        assert p["StorageEncrypted"] is True
        assert p["KmsKeyId"] == KEY
        assert p["ManageMasterUserPassword"] is True
        assert p["MasterUserSecret"] == {"KmsKeyId": KEY}
        assert "MasterUserPassword" not in p
    assert props(resources(rds_t)["DataKey"])["EnableKeyRotation"] is True


def test_database_is_private_in_the_given_subnets(rds_t: Doc) -> None:
    for instance in _instances(rds_t).values():
        assert props(instance)["PubliclyAccessible"] is False
        assert props(instance)["DBSubnetGroupName"] == {"Ref": "SubnetGroup"}
    assert props(resources(rds_t)["SubnetGroup"])["SubnetIds"] == {"Ref": "PrivateSubnetIds"}
    sg = props(resources(rds_t)["DatabaseSecurityGroup"])
    assert "SecurityGroupIngress" not in sg  # the ECS stack adds the tasks, nothing else


def test_parameter_group_enforces_tls(rds_t: Doc) -> None:
    parameters = props(resources(rds_t)["ParameterGroup"])["Parameters"]
    assert parameters["rds.force_ssl"] == "1"
    assert parameters["ssl_min_protocol_version"] == "TLSv1.2"


def test_production_keeps_a_snapshot_and_the_trial_deletes_cleanly(rds_t: Doc) -> None:
    instances = _instances(rds_t)
    prod, trial = instances["Database"], instances["TrialDatabase"]
    assert (prod["Condition"], prod["DeletionPolicy"], prod["UpdateReplacePolicy"]) == (
        "KeepSnapshotOnDelete",
        "Snapshot",
        "Snapshot",
    )
    assert (trial["Condition"], trial["DeletionPolicy"], trial["UpdateReplacePolicy"]) == (
        "DeleteWithStack",
        "Delete",
        "Delete",
    )
    # Identical but for the policies (and whether automated backups outlive the instance).
    ignored = {"DeleteAutomatedBackups"}
    assert prod["Metadata"] == trial["Metadata"]
    assert {k: v for k, v in props(prod).items() if k not in ignored} == {
        k: v for k, v in props(trial).items() if k not in ignored
    }


def test_backups_multi_az_deletion_protection_and_insights_follow_parameters(rds_t: Doc) -> None:
    p = props(_instances(rds_t)["Database"])
    assert p["BackupRetentionPeriod"] == {"Ref": "BackupRetentionDays"}
    assert rds_t["Parameters"]["BackupRetentionDays"]["MinValue"] == 1  # backups always on
    assert p["MultiAZ"] == {"Ref": "MultiAZ"}
    assert "DeletionProtection" not in p  # switched on later by the ECS stack
    assert p["EnablePerformanceInsights"] == {"Ref": "PerformanceInsights"}
    assert p["PerformanceInsightsKMSKeyId"] == {
        "Fn::If": ["PerformanceInsightsEnabled", KEY, {"Ref": "AWS::NoValue"}]
    }


def test_outputs_give_the_endpoint_and_the_rds_managed_secret(rds_t: Doc) -> None:
    outputs = rds_t["Outputs"]
    assert outputs["MasterSecretArn"]["Value"] == {
        "Fn::If": [
            "KeepSnapshotOnDelete",
            {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]},
            {"Fn::GetAtt": ["TrialDatabase", "MasterUserSecret.SecretArn"]},
        ]
    }
    assert outputs["DatabaseName"]["Value"] == contract.DB_DEFAULT_NAME


def test_engine_is_pinned_to_the_major_version_rds_picks_the_minor(rds_t: Doc) -> None:
    for instance in _instances(rds_t).values():
        assert props(instance)["EngineVersion"] == ENGINE_MAJOR_VERSION
        assert "." not in ENGINE_MAJOR_VERSION
        assert props(instance)["AutoMinorVersionUpgrade"] is True
        lint = instance["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
        assert lint == ["W3691"]  # cfn-lint's false positive on major-only versions
        assert "3849" in instance["Metadata"]["LintReason"]
    family = props(resources(rds_t)["ParameterGroup"])["Family"]
    assert family == f"postgres{ENGINE_MAJOR_VERSION}"


def test_storage_grows_by_itself_up_to_a_limit(rds_t: Doc) -> None:
    for instance in _instances(rds_t).values():
        assert props(instance)["MaxAllocatedStorage"] == {"Ref": "MaxAllocatedStorage"}
    limit = rds_t["Parameters"]["MaxAllocatedStorage"]
    assert int(limit["MinValue"]) > int(rds_t["Parameters"]["AllocatedStorage"]["MinValue"])


def test_the_data_key_outlives_the_stack_so_the_final_snapshot_stays_restorable(
    rds_t: Doc,
) -> None:
    key = resources(rds_t)["DataKey"]
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_monitoring_role_policy_arn_follows_the_partition(rds_t: Doc) -> None:
    (arn,) = props(resources(rds_t)["MonitoringRole"])["ManagedPolicyArns"]
    assert arn == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
        "AmazonRDSEnhancedMonitoringRole"
    }
