"""The public catalogue: services, their forms and the rule set in force."""
