"""Runs inside the jd-sdk venv (never imported by the suite): one day's orders from a JOS router through
JD's own Python SDK, unmodified, as any user would write it.

The SDK ships request classes for some methods only; each is a ``RestApi`` subclass that sets its
business parameters as attributes and names its method in ``getapiname`` (see ``jd/api/rest/*.py``).
``jingdong.pop.order.search`` has none in jd-sdk 1.1.1, so this file declares one the same way. The SDK
signs, sends ``timestamp`` as ``yyyy-MM-dd HH:mm:ss.000+zzzz`` of local time, and posts to
``http://<domain>/routerjson`` on the port given.

Input (stdin, JSON): host, port, app_key, app_secret, access_token, day. Output (stdout, JSON):
``{"orders": [...]}`` or ``{"error_response": {...}}``.
"""

import json
import sys

import jd
from jd.api.base import RestApi

PAGE_SIZE = 50


class PopOrderSearchRequest(RestApi):
    def __init__(self, domain, port=80):
        RestApi.__init__(self, domain, port)
        self.start_date = None
        self.end_date = None
        self.order_state = None
        self.optional_fields = None
        self.page = None
        self.page_size = None
        self.dateType = None

    def getapiname(self):
        return "jingdong.pop.order.search"


def main():
    args = json.load(sys.stdin)
    jd.setDefaultAppInfo(args["app_key"], args["app_secret"])
    orders = []
    page = 1
    while True:
        request = PopOrderSearchRequest(args["host"], args["port"])
        request.start_date = args["day"] + " 00:00:00"
        request.end_date = args["day"] + " 23:59:59"
        request.optional_fields = "orderId,orderState,orderStartTime,itemInfoList"
        request.dateType = "1"
        request.page = str(page)
        request.page_size = str(PAGE_SIZE)
        answer = request.getResponse(args["access_token"])
        if "error_response" in answer:
            json.dump(answer, sys.stdout)
            return
        listed = answer["jingdong_pop_order_search_responce"]["searchorderinfo_result"]["orderInfoList"]
        orders += listed
        if len(listed) < PAGE_SIZE:
            break
        page += 1
    json.dump({"orders": orders}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
