"""``orchestra serve``: the local emulator behind the Lambda durable-execution REST API.

A stock ``boto3.client("lambda", endpoint_url=server.url)`` drives it: checkpoints, state,
executions, histories, stops and callbacks, with botocore's modelled exceptions. Registered
functions are started with ``POST /start-durable-execution`` and run by a dispatcher, in
process or (``isolate=True``) in child processes.

Example:
    >>> from orchestra import Step
    >>> from orchestra.service.local import LocalService
    >>> def shout(name):
    ...     return (yield Step(str.upper, name))
    >>> import json, urllib.request
    >>> with Server(LocalService(), functions={"shout": shout}) as server:
    ...     request = urllib.request.Request(
    ...         server.url + "/start-durable-execution",
    ...         data=json.dumps({"FunctionName": "shout", "Input": '"ada"'}).encode())
    ...     arn = json.load(urllib.request.urlopen(request))["ExecutionArn"]
    ...     print(server.wait(arn).value, server.service.execution(arn).result)
    SUCCEEDED "ADA"
"""

from orchestra.server.app import DurableApi
from orchestra.server.clock import ClockClosed, WakeableClock
from orchestra.server.dispatch import Dispatcher
from orchestra.server.functions import FunctionLoadError, parse_function_option
from orchestra.server.server import DEFAULT_INVOCATION_TIMEOUT, Server, serve

__all__ = [
    "DEFAULT_INVOCATION_TIMEOUT",
    "ClockClosed",
    "Dispatcher",
    "DurableApi",
    "FunctionLoadError",
    "Server",
    "WakeableClock",
    "parse_function_option",
    "serve",
]
