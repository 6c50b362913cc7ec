"""The nested VPC stack: subnets across AZs, no public IPs, encrypted flow logs."""

from __future__ import annotations

from tests.templates.cfn import Doc, one, props, resources


def test_vpc_spans_up_to_three_azs_the_third_behind_a_condition(vpc_t: Doc) -> None:
    subnets = resources(vpc_t, "AWS::EC2::Subnet")
    assert sorted(subnets) == [
        "PrivateSubnet1",
        "PrivateSubnet2",
        "PrivateSubnet3",
        "PublicSubnet1",
        "PublicSubnet2",
        "PublicSubnet3",
    ]
    for title, subnet in subnets.items():
        assert subnet.get("Condition") == ("ThreeAzs" if title.endswith("3") else None)
    assert vpc_t["Parameters"]["AvailabilityZoneCount"]["AllowedValues"] == ["2", "3"]


def test_subnets_never_hand_out_public_ips(vpc_t: Doc) -> None:
    for subnet in resources(vpc_t, "AWS::EC2::Subnet").values():
        assert props(subnet)["MapPublicIpOnLaunch"] is False


def test_each_private_subnet_has_its_own_route_table_for_a_per_az_nat(vpc_t: Doc) -> None:
    associations = resources(vpc_t, "AWS::EC2::SubnetRouteTableAssociation")
    for n in (1, 2, 3):
        private = props(associations[f"PrivateSubnet{n}RouteTableAssociation"])
        assert private["RouteTableId"] == {"Ref": f"PrivateRouteTable{n}"}
        public = props(associations[f"PublicSubnet{n}RouteTableAssociation"])
        assert public["RouteTableId"] == {"Ref": "PublicRouteTable"}


def test_only_the_public_route_table_reaches_the_internet_gateway(vpc_t: Doc) -> None:
    routes = resources(vpc_t, "AWS::EC2::Route")
    assert list(routes) == ["PublicDefaultRoute"]
    assert props(routes["PublicDefaultRoute"])["GatewayId"] == {"Ref": "InternetGateway"}


def test_nat_gateways_are_not_on_the_databases_path(vpc_t: Doc) -> None:
    # They live in the NAT stack (see docs/setup-time.md): the database waits for this
    # stack, and a NAT gateway takes about two minutes.
    assert not resources(vpc_t, "AWS::EC2::NatGateway")
    assert not resources(vpc_t, "AWS::EC2::EIP")


def test_flow_logs_capture_all_traffic_into_a_cmk_encrypted_log_group(vpc_t: Doc) -> None:
    _, flow_log = one(vpc_t, "AWS::EC2::FlowLog")
    assert props(flow_log)["ResourceType"] == "VPC"
    assert props(flow_log)["TrafficType"] == "ALL"
    _, group = one(vpc_t, "AWS::Logs::LogGroup")
    assert props(group)["KmsKeyId"] == {"Fn::GetAtt": ["FlowLogKey", "Arn"]}
    assert props(group)["RetentionInDays"] == {"Ref": "FlowLogRetentionDays"}


def test_s3_gateway_endpoint_serves_the_private_route_tables(vpc_t: Doc) -> None:
    _, endpoint = one(vpc_t, "AWS::EC2::VPCEndpoint")
    assert props(endpoint)["VpcEndpointType"] == "Gateway"
    tables = props(endpoint)["RouteTableIds"]
    assert tables[:2] == [{"Ref": "PrivateRouteTable1"}, {"Ref": "PrivateRouteTable2"}]
    assert tables[2] == {
        "Fn::If": ["ThreeAzs", {"Ref": "PrivateRouteTable3"}, {"Ref": "AWS::NoValue"}]
    }


def test_outputs_are_comma_joined_lists_for_the_parent(vpc_t: Doc) -> None:
    for name in ("PublicSubnetIds", "PrivateSubnetIds", "PrivateRouteTableIds"):
        value = vpc_t["Outputs"][name]["Value"]
        assert value["Fn::If"][0] == "ThreeAzs"
        assert all("Fn::Join" in branch for branch in value["Fn::If"][1:])


def test_flow_log_role_has_what_the_vpc_guide_lists_on_well_formed_resources(vpc_t: Doc) -> None:
    (policy,) = props(resources(vpc_t)["FlowLogRole"])["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    write = statements["WriteTheFlowLogGroup"]
    assert write["Resource"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
            "log-group:${FlowLogGroup}"
        },
        {"Fn::GetAtt": ["FlowLogGroup", "Arn"]},  # ends in ":*": the group's streams
    ]
    granted = {a for s in statements.values() for a in s["Action"]}
    assert granted == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
        "logs:DescribeLogGroups",
    }
