"""Notifications by SMS (短信通知): one text to the applicant per fact of an application, once
(contracts/portal.md, "Notifications")."""
