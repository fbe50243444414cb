using Tomalign.Core.Backend;

namespace Tomalign.Cpu;

/// <summary>
/// Managed implementation of <see cref="IBundleNormalEquations"/>: residuals and Jacobians in
/// parallel over observations, then the per-view and per-landmark sums in parallel over views
/// and landmarks (through the problem's CSR indexes: no atomics, deterministic order), all in double.
/// </summary>
public sealed class CpuBundleNormalEquations : IBundleNormalEquations
{
    private double[] _jv = [], _jl = [];

    public string Name => "cpu";

    public void Accumulate(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks,
        ReadOnlySpan<double> weights, BundleNormalBlocks output)
    {
        Check(problem, viewState, landmarks, weights);
        int n = problem.ObservationCount;
        if (_jv.Length < 10 * n) { _jv = new double[10 * n]; _jl = new double[6 * n]; }
        double[] jvAll = _jv, jlAll = _jl;
        double[] vs = viewState.ToArray(), ls = landmarks.ToArray(), ws = weights.ToArray();
        double[] res = output.Residual, hvl = output.ViewLandmark;

        Parallel.For(0, Chunks(n), c =>
        {
            var (lo, hi) = Range(c, n);
            for (int k = lo; k < hi; k++)
            {
                int i = problem.View[k], j = problem.Landmark[k];
                var jv = jvAll.AsSpan(10 * k, 10);
                var jl = jlAll.AsSpan(6 * k, 6);
                BundleModel.Evaluate(vs.AsSpan(BundleLayout.ViewStateSize * i, BundleLayout.ViewStateSize),
                    ls[3 * j], ls[3 * j + 1], ls[3 * j + 2], problem.X[k], problem.Y[k], out double rx, out double ry, jv, jl);
                res[2 * k] = rx; res[2 * k + 1] = ry;
                double w = ws[k];
                int o = 15 * k;
                for (int p = 0; p < 5; p++)
                    for (int q = 0; q < 3; q++)
                        hvl[o + 3 * p + q] = w * (jv[p] * jl[q] + jv[5 + p] * jl[3 + q]);
            }
        });

        double[] hvv = output.ViewView, gv = output.ViewGradient;
        Parallel.For(0, problem.ViewCount, i =>
        {
            Span<double> h = stackalloc double[25];
            Span<double> g = stackalloc double[5];
            h.Clear(); g.Clear();
            for (int t = problem.ByViewStart[i]; t < problem.ByViewStart[i + 1]; t++)
            {
                int k = problem.ByViewObservation[t];
                double w = ws[k], rx = res[2 * k], ry = res[2 * k + 1];
                var jv = jvAll.AsSpan(10 * k, 10);
                for (int p = 0; p < 5; p++)
                {
                    double ap = w * jv[p], bp = w * jv[5 + p];
                    g[p] += ap * rx + bp * ry;
                    for (int q = 0; q < 5; q++) h[5 * p + q] += ap * jv[q] + bp * jv[5 + q];
                }
            }
            h.CopyTo(hvv.AsSpan(25 * i, 25));
            g.CopyTo(gv.AsSpan(5 * i, 5));
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
                double w = ws[k], rx = res[2 * k], ry = res[2 * k + 1];
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

        output.Cost = Cost(res, ws, n);
    }

    public double Residuals(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks,
        ReadOnlySpan<double> weights, Span<double> residual)
    {
        Check(problem, viewState, landmarks, weights);
        int n = problem.ObservationCount;
        if (residual.Length < 2 * n) throw new ArgumentException("residual span too short");
        double[] vs = viewState.ToArray(), ls = landmarks.ToArray(), ws = weights.ToArray();
        var res = new double[2 * n];
        Parallel.For(0, Chunks(n), c =>
        {
            var (lo, hi) = Range(c, n);
            Span<double> jv = stackalloc double[10];
            Span<double> jl = stackalloc double[6];
            for (int k = lo; k < hi; k++)
            {
                int i = problem.View[k], j = problem.Landmark[k];
                BundleModel.Evaluate(vs.AsSpan(BundleLayout.ViewStateSize * i, BundleLayout.ViewStateSize),
                    ls[3 * j], ls[3 * j + 1], ls[3 * j + 2], problem.X[k], problem.Y[k], out double rx, out double ry, jv, jl);
                res[2 * k] = rx; res[2 * k + 1] = ry;
            }
        });
        res.CopyTo(residual);
        return Cost(res, ws, n);
    }

    private static double Cost(double[] res, double[] ws, int n)
    {
        double cost = 0;
        for (int k = 0; k < n; k++) cost += ws[k] * (res[2 * k] * res[2 * k] + res[2 * k + 1] * res[2 * k + 1]);
        return cost;
    }

    private const int ChunkSize = 4096;
    private static int Chunks(int n) => (n + ChunkSize - 1) / ChunkSize;
    private static (int, int) Range(int c, int n) => (c * ChunkSize, Math.Min(n, (c + 1) * ChunkSize));

    private static void Check(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks, ReadOnlySpan<double> weights)
    {
        if (viewState.Length != BundleLayout.ViewStateSize * problem.ViewCount) throw new ArgumentException($"view state has {viewState.Length} values, expected {BundleLayout.ViewStateSize * problem.ViewCount}");
        if (landmarks.Length != 3 * problem.LandmarkCount) throw new ArgumentException($"landmarks have {landmarks.Length} values, expected {3 * problem.LandmarkCount}");
        if (weights.Length != problem.ObservationCount) throw new ArgumentException($"{weights.Length} weights for {problem.ObservationCount} observations");
    }
}
