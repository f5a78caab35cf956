"""The payments GraphQL types and resolvers (thin: they call the use cases in ``payments.service``)."""
