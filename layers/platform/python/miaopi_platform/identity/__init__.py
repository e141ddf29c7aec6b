"""Who is calling: the bearer token of the configured OIDC issuer, verified once by the API's
Lambda authorizer and passed to every function as a small identity context.

`claims.py` is the contract with the identity provider (the claim names and what they mean),
`context.py` the identity the functions read, `token.py` the verification, `keys.py` the
issuer's signing keys, `authorizer.py` API Gateway's side of it.
"""
