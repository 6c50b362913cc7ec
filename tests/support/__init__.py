"""Test harness shared by every test package: real PostgreSQL servers and the AWS emulator."""
