import sys, time, numpy as np
sys.path.insert(0, '/work/c2wt')
from kmcodec import entropy
z = np.load('/tmp/c2/grain12.npz'); pal = z['palette']
idx = np.ascontiguousarray(z['indices'][:1024])
H, W = idx.shape
p = entropy.encode_payload(idx, len(pal), pal, engine='mix')
out = np.empty_like(idx)
entropy.decode_payload(p, W, H, pal, out, engine='mix')
import json
from kmcodec import _mix_jit
names = json.load(open('/tmp/lean/funcs.json'))
for sig, ov in _mix_jit.decode_stripes.overloads.items():
    for k in names:
        if '_code_stripes' in k and 'v70' in k and not k.startswith(('cfunc', '_ZN7cpython')):
            try:
                a = ov.library.get_pointer_to_function(k); print('BASE', hex(a), flush=True); import ctypes; open('/tmp/lean/code5.bin','wb').write(ctypes.string_at(a, 0x6400))
            except Exception as e:
                print('noaddr', e)
t = time.perf_counter()
for _ in range(5):
    entropy.decode_payload(p, W, H, pal, out, engine='mix')
print((time.perf_counter() - t) / 5, "s per decode of", idx.size, "px")
