"""Process hosting: the composition root (``server``), one supervisor for worker
processes (``supervisor``), the IVR worker (``ivr_worker``) and web worker
(``web_worker``, ``webprocs``) processes, the screens' WSGI bridge (``bufferedwsgi``)."""
