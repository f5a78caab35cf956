"""The GraphQL layer: object types, inputs, queries and mutations."""
