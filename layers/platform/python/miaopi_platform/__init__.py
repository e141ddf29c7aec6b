"""miaopi platform: what turns the pure decision core into Lambda functions on AWS.

Settings, observability, the data-sharing port, the stores, personal-data hashing and masking,
the API models and the HTTP error mapping. boto3 clients are created lazily and injected.
"""
