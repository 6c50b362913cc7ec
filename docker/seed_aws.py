"""Seed the AWS emulator with the database secret, as RDS would attach it to the instance.

Run once by the compose stack (the `aws-seed` service, in the moto image, whose Python has
boto3) before the service starts, so that the service takes the deployed path locally:
``DB_SECRET_ARN`` read from Secrets Manager with aioboto3. Idempotent: a second run puts
the current values as a new version of the same secret.

Inputs, all from the environment: ``SEED_SECRET_NAME`` and the ``SEED_DB_*`` values, plus
the usual ``AWS_ENDPOINT_URL``, ``AWS_REGION`` and emulator credentials. Prints the ARN.
"""

from __future__ import annotations

import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

REQUIRED = (
    "SEED_SECRET_NAME",
    "SEED_DB_HOST",
    "SEED_DB_PORT",
    "SEED_DB_NAME",
    "SEED_DB_USERNAME",
    "SEED_DB_PASSWORD",
)


def database_secret(env: dict[str, str]) -> str:
    """The attached secret's JSON: what RDS stores, with host, port (an int) and dbname."""
    return json.dumps(
        {
            "engine": "postgres",
            "host": env["SEED_DB_HOST"],
            "port": int(env["SEED_DB_PORT"]),
            "dbname": env["SEED_DB_NAME"],
            "username": env["SEED_DB_USERNAME"],
            "password": env["SEED_DB_PASSWORD"],
        }
    )


def seed(env: dict[str, str]) -> str:
    """Create the secret, or add a version with the current values; return its ARN."""
    client = boto3.client("secretsmanager", endpoint_url=env.get("AWS_ENDPOINT_URL"))
    name = env["SEED_SECRET_NAME"]
    value = database_secret(env)
    try:
        created = client.create_secret(Name=name, SecretString=value)
        return str(created["ARN"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
    updated = client.put_secret_value(SecretId=name, SecretString=value)
    return str(updated["ARN"])


def main() -> int:
    env = dict(os.environ)
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        print(f"seed_aws: missing {', '.join(missing)}", file=sys.stderr)
        return 64
    print(seed(env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
