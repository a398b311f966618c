#!/usr/bin/env bash
# placeholder: replaced by the e2e harness work
exit 0
