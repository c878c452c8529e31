"""The bus: NATS connection, stream definitions, publisher, readers, and the embedded runtime."""
