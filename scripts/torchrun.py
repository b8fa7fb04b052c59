#!/usr/bin/python3
# torchrun for Debian 12 (torch 1.13 under Python 3.11): its Std.from_str
# compares a plain Enum with an int, which Python 3.11 no longer equates, so
# /usr/bin/torchrun fails in to_map before it starts a worker. Same options:
#   /usr/bin/python3 scripts/torchrun.py --nproc_per_node 2 --no_python daas search ...
import re, sys
from torch.distributed.elastic.multiprocessing import api
def from_str(vm):
    if re.match(api._VALUE_REGEX, vm):
        return api.Std(int(vm))
    return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
api.Std.from_str = staticmethod(from_str)
from torch.distributed.run import main
sys.exit(main())
