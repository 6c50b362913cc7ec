"""Where the stacks may be created, and what differs between those regions.

One source for the parents' region rule, the per-region defaults, the ALB log-delivery
principals, the docs' region table (docs/regions.md, kept equal by a test) and the
every-region test.
"""

from __future__ import annotations

from typing import Final

#: The only partition supported: the AWS Marketplace container listing, its ECR registry
#: and the ELB log-delivery accounts below are those of the commercial partition (aws).
#: GovCloud (aws-us-gov) and China (aws-cn) are refused by the parents' rules.
PARTITION: Final = "aws"

#: Commercial regions where Amazon ECS runs Linux containers on AWS Fargate ("Supported
#: Regions for Amazon ECS on AWS Fargate", Linux containers:
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate-Regions.html),
#: mapped to the Availability Zones a new VPC spans there by default.
#: us-west-1 runs Fargate in usw1-az1 and usw1-az3 only, and offers most accounts two AZs
#: at all: two there. Everywhere else three (each of these regions has three or more).
REGIONS: Final[dict[str, int]] = {
    "us-east-1": 3,
    "us-east-2": 3,
    "us-west-1": 2,
    "us-west-2": 3,
    "ca-central-1": 3,
    "ca-west-1": 3,
    "mx-central-1": 3,
    "sa-east-1": 3,
    "af-south-1": 3,
    "ap-east-1": 3,
    "ap-south-1": 3,
    "ap-south-2": 3,
    "ap-northeast-1": 3,
    "ap-northeast-2": 3,
    "ap-northeast-3": 3,
    "ap-southeast-1": 3,
    "ap-southeast-2": 3,
    "ap-southeast-3": 3,
    "ap-southeast-4": 3,
    "ap-southeast-5": 3,
    "ap-southeast-7": 3,
    "eu-central-1": 3,
    "eu-central-2": 3,
    "eu-west-1": 3,
    "eu-west-2": 3,
    "eu-west-3": 3,
    "eu-south-1": 3,
    "eu-south-2": 3,
    "eu-north-1": 3,
    "il-central-1": 3,
    "me-south-1": 3,
    "me-central-1": 3,
}
#: Regions where a new VPC can span only two AZs: choosing three there is refused.
TWO_AZ_REGIONS: Final = tuple(r for r, azs in REGIONS.items() if azs == 2)

#: Regions opened before August 2022 deliver ALB access logs from these Elastic Load
#: Balancing accounts; the newer ones use the logdelivery.elasticloadbalancing.amazonaws.com
#: service principal, which the bucket policy always allows as well. Source: Elastic Load
#: Balancing User Guide, "Enable access logs for your Application Load Balancer", step 2
#: (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html).
ELB_ACCOUNTS: Final[dict[str, str]] = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-south-1": "635631232127",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}
