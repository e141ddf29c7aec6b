"""Post-approval supervision (事后监管): re-verification, spot-check draws, revocations and the
credit-list follow-up."""
