"""The transactional outbox: notifications (order confirmations, back-in-stock mails) queued
with the change they announce, delivered afterwards. Infrastructure, like audit: any
feature may queue a message."""
