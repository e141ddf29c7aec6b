"""Logger, Metrics and Tracer: created once here and imported everywhere.

Never log personal data: log ids, hashes, outcomes and rule ids.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
# Patch boto3 only: patching every supported library costs cold-start time for nothing.
tracer = Tracer(patch_modules=["boto3", "botocore"])
