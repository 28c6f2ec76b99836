"""gunicorn settings shipped with the service: `addin-api serve`, or `gunicorn -c <this file> 'addin_api:create_app()'`.

Threaded workers: a request mostly waits on Dataverse and Entra, so threads overlap that waiting.
https://docs.gunicorn.org/en/stable/design.html
"""

import os

bind = os.environ.get("ADDIN_API_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("ADDIN_API_WORKERS", "2"))
threads = int(os.environ.get("ADDIN_API_THREADS", "8"))
# Outbound calls finish within the 20 s request budget, well before a worker is killed.
timeout = 30
graceful_timeout = 30
keepalive = 5
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
max_requests = 1000
max_requests_jitter = 100
forwarded_allow_ips = os.environ.get("ADDIN_API_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The access log line carries the path only: query strings can hold email addresses.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(D)sus "%({x-request-id}o)s"'
