"""GPU benchmark, prepared for a session with a CUDA device; run it in one go:

    pip install 'cupy-cuda12x>=13' torch && python benchmarks/gpu.py --out gpu_results.md

It measures, on one GPU, training steps per second of the 784-512-256-10 MLP (ReLU, softmax
cross-entropy, SGD momentum 0.9) on 60,000 synthetic MNIST-shaped samples at batch 32/128/512/4096:

  * glassnet eager on CuPy (``model.to('gpu')`` + ``fit``'s loop body),
  * glassnet with :class:`glassnet.adapters.gpu.FusedOptimizer`,
  * glassnet :class:`glassnet.adapters.gpu.CudaGraphStep`,
  * PyTorch CUDA eager and PyTorch with the step captured in a ``torch.cuda.CUDAGraph``;

then TFLOP/s of 784-4096-4096-10 at batch 4096 (6 * params * batch FLOPs per step), and gradient
parity GPU vs CPU in float64. Every section catches its own failure and reports it, so one
broken path does not hide the others. Nothing here has been run on a GPU yet.
"""

import argparse
import time
import traceback

import numpy as np

import glassnet as g
from glassnet.adapters.gpu import CudaGraphStep, FusedOptimizer

N, SIZES, BATCHES = 60_000, (784, 512, 256, 10), (32, 128, 512, 4096)


def _sync():
    import cupy as cp

    cp.cuda.Device().synchronize()


def _data(dtype=np.float32):
    import cupy as cp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], N)
    return cp.asarray(X), cp.asarray(np.eye(SIZES[-1], dtype=dtype)[y]), X, y


def _model(sizes, dtype="float32"):
    return g.mlp(sizes[0], list(sizes[1:-1]), sizes[-1], seed=0, dtype=dtype)


def time_steps(step, n_steps, warmup=10):
    for _ in range(warmup):
        step()
    _sync()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    _sync()
    return (time.perf_counter() - t0) / n_steps


def glassnet_step(model, opt, X, Y, batch, rng):
    loss, stop = g.CrossEntropy(), len(model.layers) - 1
    order = iter(())

    def step():
        nonlocal order
        idx = next(order, None)
        if idx is None:
            import cupy as cp

            perm = cp.asarray(rng.permutation(N))
            order = iter([perm[i:i + batch] for i in range(0, N - batch + 1, batch)])
            idx = next(order)
        out = model.forward(X[idx], stop=stop)
        loss.forward(out, Y[idx], from_logits=True)     # float(): one sync per step, as in fit
        model.backward(loss.backward(), stop=stop)
        opt.step()
    return step


def graph_step(model, X, Y, batch, rng):
    import cupy as cp

    gs = CudaGraphStep(model, g.SGD(0.01, momentum=0.9), batch)
    perm = cp.asarray(rng.permutation(N))
    k = [0]

    def step():
        i = (k[0] * batch) % (N - batch)
        idx = perm[i:i + batch]
        gs(X[idx], Y[idx])
        k[0] += 1
    return step, gs


def torch_steps(sizes, Xh, yh, batch, graphed):
    import torch

    dev = torch.device("cuda")
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X, y = torch.from_numpy(Xh).to(dev), torch.from_numpy(yh).to(dev)
    lossf = torch.nn.CrossEntropyLoss()
    if not graphed:
        def step():
            idx = torch.randint(0, N, (batch,), device=dev)
            opt.zero_grad(set_to_none=True)
            lossf(model(X[idx]), y[idx]).backward()
            opt.step()
        return step, torch.cuda.synchronize
    sx, sy = X[:batch].clone(), y[:batch].clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            lossf(model(sx), sy).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = lossf(model(sx), sy)
        static_loss.backward()
        opt.step()

    def step():
        idx = torch.randint(0, N, (batch,), device=dev)
        sx.copy_(X[idx])
        sy.copy_(y[idx])
        graph.replay()
    return step, torch.cuda.synchronize


def section(lines, title, fn):
    try:
        fn()
    except Exception as e:  # report and go on
        lines.append(f"| {title} | FAILED: {type(e).__name__}: {str(e).splitlines()[0][:120]} |")
        traceback.print_exc()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import cupy as cp

    lines = [f"GPU: {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cp.__version__}", "",
             "| path | batch | ms/step | samples/s |", "|---|---|---|---|"]
    X, Y, Xh, yh = _data()

    def row(name, batch, sec):
        lines.append(f"| {name} | {batch} | {sec * 1e3:.3f} | {batch / sec:,.0f} |")
        print(lines[-1], flush=True)

    for batch in BATCHES:
        n = max(20, min(args.steps, 4 * N // batch))

        def eager(batch=batch, n=n, fused=False):
            m = _model(SIZES).to("gpu")
            opt = g.SGD(0.01, momentum=0.9)
            opt = (FusedOptimizer(opt) if fused else opt).setup(m.parameters())
            row("glassnet eager" + (" + fused update" if fused else ""), batch,
                time_steps(glassnet_step(m, opt, X, Y, batch, np.random.default_rng(0)), n))

        def graphed(batch=batch, n=n):
            step, gs = graph_step(_model(SIZES).to("gpu"), X, Y, batch, np.random.default_rng(0))
            row("glassnet CUDA graph", batch, time_steps(step, n))

        def torch_eager(batch=batch, n=n, graphed=False):
            step, _ = torch_steps(SIZES, Xh, yh, batch, graphed)
            row("PyTorch " + ("CUDA graph" if graphed else "eager"), batch, time_steps(step, n))

        section(lines, f"glassnet eager b={batch}", eager)
        section(lines, f"glassnet fused b={batch}", lambda: eager(fused=True))
        section(lines, f"glassnet graph b={batch}", graphed)
        section(lines, f"torch eager b={batch}", torch_eager)
        section(lines, f"torch graph b={batch}", lambda: torch_eager(graphed=True))

    big = (784, 4096, 4096, 10)
    flops = 6 * sum(a * b for a, b in zip(big[:-1], big[1:])) * 4096   # fwd 2, bwd 4 FLOPs per weight per sample

    def tflops():
        m = _model(big).to("gpu")
        opt = FusedOptimizer(g.SGD(0.01, momentum=0.9)).setup(m.parameters())
        sec = time_steps(glassnet_step(m, opt, X, Y, 4096, np.random.default_rng(0)), 30, warmup=5)
        lines.append(f"| glassnet 784-4096-4096-10 | 4096 | {sec * 1e3:.3f} | {flops / sec / 1e12:.2f} TFLOP/s |")
        step, _ = torch_steps(big, Xh, yh, 4096, False)
        sec = time_steps(step, 30, warmup=5)
        lines.append(f"| PyTorch 784-4096-4096-10 | 4096 | {sec * 1e3:.3f} | {flops / sec / 1e12:.2f} TFLOP/s |")
    section(lines, "TFLOP/s", tflops)

    def parity():
        rng = np.random.default_rng(1)
        x, yy = rng.standard_normal((256, 784)), rng.integers(0, 10, 256)
        cpu, gpu_m = _model(SIZES, "float64"), _model(SIZES, "float64").to("gpu")
        loss = g.CrossEntropy()
        for m, xx, t in ((cpu, x, yy), (gpu_m, cp.asarray(x), cp.asarray(yy))):
            out = m.forward(xx, stop=5)
            loss.forward(out, t, from_logits=True)
            m.backward(loss.backward(), stop=5)
        err = max(float(np.max(np.abs(cp.asnumpy(b.grad) - a.grad)) / (np.max(np.abs(a.grad)) + 1e-300))
                  for a, b in zip(cpu.parameters(), gpu_m.parameters()))
        lines.append(f"| gradient parity GPU vs CPU (float64, batch 256) | max relative error {err:.2e} |")
    section(lines, "parity", parity)

    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
