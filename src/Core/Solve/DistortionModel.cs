using Tomalign.Core.Backend;

namespace Tomalign.Core.Solve;

/// <summary>
/// The solver's view state and its normal equations with in-plane distortion (IMOD tiltalign's X-stretch and skew, its
/// stretch type 1; see <see cref="Geometry.ViewGeometry"/>): p = m·R(α)·P·R_y(θ)·R_x(φ)·D(s, δ)·X + d with
/// D = [[(1+s)·cos δ, 0, 0], [(1+s)·sin δ, 1, 0], [0, 0, 1]].
/// <para>Solver state: <see cref="StateSize"/> doubles per view — the backends' six (<see cref="BundleLayout"/>) then
/// s and δ (radians). Parameters (the differentiated ones, in this order): α, θ, m, dx, dy, s, δ.</para>
/// <para>Without distortion variables and with s = δ = 0 the backend (CPU or GPU) computes the normal equations; otherwise
/// this managed code does (a bead solve is small; the model with distortion has no GPU twin).</para>
/// </summary>
internal static class DistortionModel
{
    public const int StateSize = 8;
    public const int Stretch = 5, Skew = 6;
    public const int StretchState = 6, SkewState = 7;
    public const int AllParameters = 7;

    /// <summary>True when any view of the state has a non-zero stretch or skew.</summary>
    public static bool AnyDistortion(ReadOnlySpan<double> state)
    {
        for (int o = 0; o < state.Length; o += StateSize)
            if (state[o + StretchState] != 0 || state[o + SkewState] != 0) return true;
        return false;
    }

    /// <summary>The backends' view state (six per view) of a solver state.</summary>
    public static double[] BackendState(ReadOnlySpan<double> state)
    {
        int nv = state.Length / StateSize;
        var s = new double[BundleLayout.ViewStateSize * nv];
        for (int i = 0; i < nv; i++)
            state.Slice(StateSize * i, BundleLayout.ViewStateSize).CopyTo(s.AsSpan(BundleLayout.ViewStateSize * i));
        return s;
    }

    /// <summary>Residual and Jacobian of one observation: <paramref name="jv"/> 2×7 row-major, <paramref name="jl"/> 2×3 row-major.</summary>
    public static void Evaluate(ReadOnlySpan<double> view, double x, double y, double z, double mx, double my,
        out double rx, out double ry, Span<double> jv, Span<double> jl)
    {
        double ca = Math.Cos(view[0]), sa = Math.Sin(view[0]);
        double ct = Math.Cos(view[1]), st = Math.Sin(view[1]);
        double cp = Math.Cos(view[5]), sp = Math.Sin(view[5]);
        double m = view[2], s = view[StretchState], d = view[SkewState];
        double cd = Math.Cos(d), sd = Math.Sin(d);
        // G = m·R(α)·[[cosθ, sinθ·sinφ, sinθ·cosφ], [0, cosφ, −sinφ]]
        double g00 = m * ca * ct, g01 = m * (ca * st * sp - sa * cp), g02 = m * (ca * st * cp + sa * sp);
        double g10 = m * sa * ct, g11 = m * (sa * st * sp + ca * cp), g12 = m * (sa * st * cp - ca * sp);
        double xd = (1 + s) * cd * x, yd = (1 + s) * sd * x + y; // D·X (z unchanged)
        double px = g00 * xd + g01 * yd + g02 * z, py = g10 * xd + g11 * yd + g12 * z; // A·X
        rx = px + view[3] - mx;
        ry = py + view[4] - my;
        jv[0] = -py; jv[7] = px;                                  // ∂/∂α: R′ = R·[[0,−1],[1,0]]
        double z1 = yd * sp + z * cp, du = -xd * st + z1 * ct;   // ∂u/∂θ
        jv[1] = m * ca * du; jv[8] = m * sa * du;
        jv[2] = px / m; jv[9] = py / m;                           // ∂/∂m
        jv[3] = 1; jv[10] = 0;
        jv[4] = 0; jv[11] = 1;
        double xs = cd * x, ys = sd * x;                          // ∂(D·X)/∂s
        jv[5] = g00 * xs + g01 * ys; jv[12] = g10 * xs + g11 * ys;
        double xk = -(1 + s) * sd * x, yk = (1 + s) * cd * x;     // ∂(D·X)/∂δ
        jv[6] = g00 * xk + g01 * yk; jv[13] = g10 * xk + g11 * yk;
        double dx = (1 + s) * cd, dy = (1 + s) * sd;              // A = G·D
        jl[0] = g00 * dx + g01 * dy; jl[1] = g01; jl[2] = g02;
        jl[3] = g10 * dx + g11 * dy; jl[4] = g11; jl[5] = g12;
    }

    /// <summary>The linear part A (2×3, row-major) of a view's projection: p = A·X + d.</summary>
    public static void LinearPart(ReadOnlySpan<double> view, Span<double> a)
    {
        Span<double> jv = stackalloc double[14];
        Evaluate(view, 0, 0, 0, 0, 0, out _, out _, jv, a);
    }

    /// <summary>Normal-equation blocks with the first <see cref="BundleNormalBlocks.ViewParameters"/> parameters (5 or 7).</summary>
    public static void Accumulate(BundleProblem problem, double[] state, double[] lm, double[] weights, BundleNormalBlocks output)
    {
        int n = problem.ObservationCount, np = output.ViewParameters;
        var jvAll = new double[14 * n];
        var jlAll = new double[6 * n];
        double[] res = output.Residual, hvl = output.ViewLandmark;
        Parallel.For(0, (n + 1023) / 1024, c =>
        {
            int lo = 1024 * c, hi = Math.Min(n, lo + 1024);
            for (int k = lo; k < hi; k++)
            {
                int i = problem.View[k], j = problem.Landmark[k];
                var jv = jvAll.AsSpan(14 * k, 14);
                var jl = jlAll.AsSpan(6 * k, 6);
                Evaluate(state.AsSpan(StateSize * i, StateSize), lm[3 * j], lm[3 * j + 1], lm[3 * j + 2], problem.X[k], problem.Y[k],
                    out double rx, out double ry, jv, jl);
                res[2 * k] = rx; res[2 * k + 1] = ry;
                double w = weights[k];
                for (int p = 0; p < np; p++)
                    for (int q = 0; q < 3; q++)
                        hvl[3 * np * k + 3 * p + q] = w * (jv[p] * jl[q] + jv[7 + p] * jl[3 + q]);
            }
        });
        double[] hvv = output.ViewView, gv = output.ViewGradient;
        Parallel.For(0, problem.ViewCount, i =>
        {
            var h = new double[np * np];
            var g = new double[np];
            for (int t = problem.ByViewStart[i]; t < problem.ByViewStart[i + 1]; t++)
            {
                int k = problem.ByViewObservation[t];
                double w = weights[k], rx = res[2 * k], ry = res[2 * k + 1];
                var jv = jvAll.AsSpan(14 * k, 14);
                for (int p = 0; p < np; p++)
                {
                    double ap = w * jv[p], bp = w * jv[7 + p];
                    g[p] += ap * rx + bp * ry;
                    for (int q = 0; q < np; q++) h[np * p + q] += ap * jv[q] + bp * jv[7 + q];
                }
            }
            h.CopyTo(hvv.AsSpan(np * np * i, np * np));
            g.CopyTo(gv.AsSpan(np * i, np));
        });
        double[] hll = output.LandmarkLandmark, gl = output.LandmarkGradient;
        Parallel.For(0, problem.LandmarkCount, j =>
        {
            Span<double> h = stackalloc double[9];
            Span<double> g = stackalloc double[3];
            h.Clear(); g.Clear();
            for (int t = problem.ByLandmarkStart[j]; t < problem.ByLandmarkStart[j + 1]; t++)
            {
                int k = problem.ByLandmarkObservation[t];
                double w = weights[k], rx = res[2 * k], ry = res[2 * k + 1];
                var jl = jlAll.AsSpan(6 * k, 6);
                for (int p = 0; p < 3; p++)
                {
                    double ap = w * jl[p], bp = w * jl[3 + p];
                    g[p] += ap * rx + bp * ry;
                    for (int q = 0; q < 3; q++) h[3 * p + q] += ap * jl[q] + bp * jl[3 + q];
                }
            }
            h.CopyTo(hll.AsSpan(9 * j, 9));
            g.CopyTo(gl.AsSpan(3 * j, 3));
        });
        double cost = 0;
        for (int k = 0; k < n; k++) cost += weights[k] * (res[2 * k] * res[2 * k] + res[2 * k + 1] * res[2 * k + 1]);
        output.Cost = cost;
    }

    /// <summary>Residuals (2 per observation) and Σ w (rx² + ry²).</summary>
    public static double Residuals(BundleProblem problem, double[] state, double[] lm, double[] weights, Span<double> residual)
    {
        int n = problem.ObservationCount;
        Span<double> jv = stackalloc double[14];
        Span<double> jl = stackalloc double[6];
        double cost = 0;
        for (int k = 0; k < n; k++)
        {
            int i = problem.View[k], j = problem.Landmark[k];
            Evaluate(state.AsSpan(StateSize * i, StateSize), lm[3 * j], lm[3 * j + 1], lm[3 * j + 2], problem.X[k], problem.Y[k],
                out double rx, out double ry, jv, jl);
            residual[2 * k] = rx; residual[2 * k + 1] = ry;
            cost += weights[k] * (rx * rx + ry * ry);
        }
        return cost;
    }
}

/// <summary>
/// The solver's normal equations on its state of <see cref="DistortionModel.StateSize"/> per view: the backend's (CPU or GPU)
/// when the blocks have five parameters per view and no view is distorted, else <see cref="DistortionModel"/>'s managed code.
/// </summary>
internal sealed class SolverEquations(IBundleNormalEquations backend)
{
    public void Accumulate(BundleProblem problem, double[] state, double[] lm, double[] weights, BundleNormalBlocks output)
    {
        if (output.ViewParameters == BundleLayout.ViewParameters && !DistortionModel.AnyDistortion(state))
            backend.Accumulate(problem, DistortionModel.BackendState(state), lm, weights, output);
        else
            DistortionModel.Accumulate(problem, state, lm, weights, output);
    }

    public double Residuals(BundleProblem problem, double[] state, double[] lm, double[] weights, Span<double> residual) =>
        DistortionModel.AnyDistortion(state)
            ? DistortionModel.Residuals(problem, state, lm, weights, residual)
            : backend.Residuals(problem, DistortionModel.BackendState(state), lm, weights, residual);
}
