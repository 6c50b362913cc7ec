"""CloudFormation for Cloud Optimizer on ECS Fargate, RDS PostgreSQL and an ALB.

Pure functions from a typed :class:`~templates_src.profile.Profile` to troposphere
``Template`` objects, one module per nested stack (``vpc``, ``alb``, ``rds``, ``ecs``)
and the two parents (``parents``). Nothing here reads or writes files: the CLI
(``build_templates.py``) serialises, lints and writes.
"""
