"""Dhan's REST error envelopes, as the real API sends them (always a JSON body).

Spellings are the real ones from recorded bodies (``Invalid_Authentication``, and DH-904
arriving with ``errorType`` ``Input_Exception``). HTTP statuses are not documented; the
recorded ones are used where known (401 for DH-901, 429 for DH-904, 400 for DH-905) and the
reference's mapping otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# code -> (HTTP status, errorType, errorMessage)
DH_ERRORS: dict[str, tuple[int, str, str]] = {
    "DH-901": (401, "Invalid_Authentication",
               "Client ID or user generated access token is invalid or expired."),
    "DH-902": (403, "Invalid_Access",
               "User has not subscribed to Data APIs or does not have access to Trading APIs."),
    "DH-903": (400, "User_Account", "Errors related to User's Account."),
    "DH-904": (429, "Input_Exception", "Too many requests on server from single user "
               "breaching rate limits. Try throttling API calls."),
    "DH-905": (400, "Input_Exception", "Missing required fields, bad values for parameters etc."),
    "DH-906": (400, "Order_Error", "Incorrect request for order and cannot be processed."),
    "DH-907": (400, "Data_Error", "System is unable to fetch data due to incorrect parameters "
               "or no data present."),
    "DH-908": (500, "Internal_Server_Error", "Server was not able to process API request."),
    "DH-909": (502, "Network_Error", "API was unable to communicate with the backend system."),
    "DH-910": (500, "Others", "Error originating from other reasons."),
    "DH-911": (403, "Invalid_IP", "Invalid IP address"),
}


@dataclass
class DhanApiError(Exception):
    """Raised by a handler to answer with a Dhan error envelope."""

    code: str
    message: str | None = None
    status: int | None = None

    def __post_init__(self) -> None:
        if self.code not in DH_ERRORS:
            raise ValueError(f"unknown Dhan error code {self.code!r}")
        super().__init__(f"{self.code}: {self.message or DH_ERRORS[self.code][2]}")

    def body(self) -> dict[str, str]:
        _, kind, default = DH_ERRORS[self.code]
        return {"errorType": kind, "errorCode": self.code,
                "errorMessage": self.message or default}

    def http_status(self) -> int:
        return self.status if self.status is not None else DH_ERRORS[self.code][0]


def json_response(payload: Any, status: int = 200) -> web.Response:
    """A JSON response with Dhan's content type (compact separators, like the real API)."""
    return web.Response(text=json.dumps(payload, separators=(",", ":")), status=status,
                        content_type="application/json")


def error_response(error: DhanApiError) -> web.Response:
    return json_response(error.body(), status=error.http_status())


def not_found_response(path: str, timestamp_ms: int) -> web.Response:
    """What the real gateway answers for an unknown path (a Spring-style body, HTTP 404)."""
    return json_response({"timestamp": timestamp_ms, "status": 404, "error": "Not Found",
                          "path": path}, status=404)
