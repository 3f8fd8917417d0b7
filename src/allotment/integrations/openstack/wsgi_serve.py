"""Serve one OpenStack WSGI application with gunicorn (run by the cloud's own Python).

usage: python wsgi_serve.py NAME MODULE:ATTR HOST:PORT [WORKERS] [THREADS]

devcloud copies this file into the cloud's run directory and runs it with the cloud's
virtualenv, never with the project's: the services pin their own libraries. Their APIs exist
only as WSGI modules (keystone.wsgi.api, placement.wsgi.api, glance.wsgi.api,
nova.wsgi.osapi_compute), and those parse sys.argv with oslo.config when they load, so
gunicorn's command line must not be visible to them: gunicorn is configured here, in code,
and sys.argv is emptied before the application loads. Each service finds its configuration
through its OS_*_CONFIG_* environment variables.
"""

import importlib
import sys

from gunicorn.app.base import BaseApplication


class _App(BaseApplication):
    def __init__(self, target: str, options: dict):
        self.target = target
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        sys.argv = sys.argv[:1]
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)


def main() -> None:
    name, target, bind = sys.argv[1:4]
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    options = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "proc_name": name,
        "timeout": 300,
        "graceful_timeout": 5,
        # gunicorn 27 opens ~/.gunicorn/gunicorn.ctl by default, one socket for every master.
        "control_socket_disable": True,
        "accesslog": "-",
    }
    _App(target, options).run()


if __name__ == "__main__":
    main()
