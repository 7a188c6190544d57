"""The append-only audit trail of the seed's AuditLogService."""
