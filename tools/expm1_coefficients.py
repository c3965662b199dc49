"""Print the polynomial dynq's tanh uses for e^r − 1 (`EXPM1_QUOTIENT` in
src/kernels/lanes.rs): e^r − 1 = r + r² (1/2 + r u(r)) on |r| ≤ ln 2 / 2, with u of degree 6
fitted near-minimax for the relative error of e^r − 1 (least squares on Chebyshev nodes,
reweighted towards the largest errors), then rounded to f64.

Keeping the r² coefficient at exactly 1/2 makes the error vanish towards r = 0, where most
f32 inputs lie. Optional tool: needs `mpmath` (it comes with PyTorch's virtualenv); dynq never
needs it to build, run or test.

    python tools/expm1_coefficients.py
"""

import mpmath as mp

DEGREE = 6
NODES = 400
ROUNDS = 30


def fit() -> list[float]:
    mp.mp.dps = 50
    edge = mp.log(2) / 2 * mp.mpf("1.0001")
    xs = [edge * mp.cos(mp.pi * (i + 0.5) / NODES) for i in range(NODES)]

    def target(r):
        return ((mp.expm1(r) - r) / r**2 - mp.mpf(1) / 2) / r

    # An error of e in u(r) is an error of r³ e in e^r − 1: weigh it relative to e^r − 1.
    weight = [abs(x**3 / mp.expm1(x)) for x in xs]
    extra = [mp.mpf(1)] * NODES
    for _ in range(ROUNDS):
        a = mp.matrix(NODES, DEGREE + 1)
        b = mp.matrix(NODES, 1)
        for i, x in enumerate(xs):
            w = weight[i] * extra[i]
            for j in range(DEGREE + 1):
                a[i, j] = w * x**j
            b[i] = w * target(x)
        c = mp.lu_solve(a.T * a, a.T * b)
        errors = [
            weight[i] * (sum(c[j] * xs[i] ** j for j in range(DEGREE + 1)) - target(xs[i]))
            for i in range(NODES)
        ]
        worst = max(abs(e) for e in errors)
        extra = [extra[i] * (abs(errors[i]) / worst) ** mp.mpf("0.5") + mp.mpf("1e-30")
                 for i in range(NODES)]
    return [float(c[j]) for j in range(DEGREE + 1)]


def main() -> None:
    u = fit()
    edge = mp.log(2) / 2
    samples = [edge * mp.mpf(i) / 2000 for i in range(-2000, 2001) if i != 0]
    worst = max(
        abs((x + x**2 * (mp.mpf(1) / 2 + x * sum(mp.mpf(c) * x**j for j, c in enumerate(u)))
             - mp.expm1(x)) / mp.expm1(x))
        for x in samples
    )
    print(f"// e^r - 1 within {mp.nstr(worst, 3)} (2^{mp.nstr(mp.log(worst, 2), 3)}) relative")
    print(f"const EXPM1_QUOTIENT: [f64; {len(u) + 1}] = [")
    for c in reversed(u):
        print(f"    {c!r},")
    print("    0.5,\n];")


if __name__ == "__main__":
    main()
