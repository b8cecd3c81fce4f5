"""splitbrain: a Jepsen-style fault-injection and consistency checker with its own
Dynamo/DynamoDB-style key-value store as the system under test."""

__version__ = "0.1.0"
