"""Invoice and credit-note e-mails over SMTP, sent exactly once after the commit (:mod:`.deliveries`)."""
