"""Build tools for the Helm chart in helm/cloud-optimizer (not part of the packaged chart).

`python -m helm` regenerates what the chart derives from elsewhere: templates/_contract.tpl
from service/contract.py, and the README's values table from the comments in values.yaml.
`python -m helm --check` fails when either is out of date (the test suite runs the same
comparison).
"""
