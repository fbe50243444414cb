using ILGPU;

namespace Tomalign.Kernels;

/// <summary>
/// Bundle-adjustment normal equations (the twin of Tomalign.Cpu.CpuBundleNormalEquations):
/// one thread per observation computes the residual and Jacobian of
/// p = m·R(α)·P·R_y(θ)·R_x(φ)·X + d and the observation's view×landmark block; then one thread per
/// view and one per landmark sum their blocks over the observations listed for them (CSR), so
/// the sums need no atomics and come out in a fixed order. All in double.
/// Per-view coefficients (host-computed, <see cref="ViewCoefficients"/> per view):
/// cos α, sin α, cos θ, sin θ, cos φ, sin φ, m, dx, dy.
/// </summary>
internal static class BundleKernels
{
    public const int ViewCoefficients = 9;

    public static void Observation(Index1D k, ArrayView<int> view, ArrayView<int> landmark, ArrayView<double> measured,
        ArrayView<double> coef, ArrayView<double> lm, ArrayView<double> weight,
        ArrayView<double> residual, ArrayView<double> jv, ArrayView<double> jl, ArrayView<double> hvl)
    {
        int i = view[k], j = landmark[k];
        long c = (long)i * ViewCoefficients;
        double ca = coef[c], sa = coef[c + 1], ct = coef[c + 2], st = coef[c + 3], cp = coef[c + 4], sp = coef[c + 5];
        double m = coef[c + 6];
        double x = lm[3 * j], y = lm[3 * j + 1], z = lm[3 * j + 2];
        double y1 = y * cp - z * sp, z1 = y * sp + z * cp;
        double u = x * ct + z1 * st, v = y1;
        double ru = ca * u - sa * v, rv = sa * u + ca * v;
        double rx = m * ru + coef[c + 7] - measured[2 * k];
        double ry = m * rv + coef[c + 8] - measured[2 * k + 1];
        residual[2 * k] = rx; residual[2 * k + 1] = ry;

        double du = -x * st + z1 * ct;
        long o = 10L * k;
        jv[o] = -m * rv; jv[o + 5] = m * ru;
        jv[o + 1] = m * ca * du; jv[o + 6] = m * sa * du;
        jv[o + 2] = ru; jv[o + 7] = rv;
        jv[o + 3] = 1; jv[o + 8] = 0;
        jv[o + 4] = 0; jv[o + 9] = 1;

        double ux = ct, uy = st * sp, uz = st * cp, vy = cp, vz = -sp;
        long q = 6L * k;
        jl[q] = m * ca * ux; jl[q + 1] = m * (ca * uy - sa * vy); jl[q + 2] = m * (ca * uz - sa * vz);
        jl[q + 3] = m * sa * ux; jl[q + 4] = m * (sa * uy + ca * vy); jl[q + 5] = m * (sa * uz + ca * vz);

        double w = weight[k];
        long h = 15L * k;
        for (int p = 0; p < 5; p++)
            for (int r = 0; r < 3; r++)
                hvl[h + 3 * p + r] = w * (jv[o + p] * jl[q + r] + jv[o + 5 + p] * jl[q + 3 + r]);
    }

    public static void ViewSums(Index1D i, ArrayView<int> start, ArrayView<int> items, ArrayView<double> weight,
        ArrayView<double> residual, ArrayView<double> jv, ArrayView<double> hvv, ArrayView<double> gv)
    {
        long ho = 25L * i, go = 5L * i;
        for (int t = 0; t < 25; t++) hvv[ho + t] = 0;
        for (int t = 0; t < 5; t++) gv[go + t] = 0;
        for (int t = start[i]; t < start[i + 1]; t++)
        {
            int k = items[t];
            double w = weight[k], rx = residual[2 * k], ry = residual[2 * k + 1];
            long o = 10L * k;
            for (int p = 0; p < 5; p++)
            {
                double ap = w * jv[o + p], bp = w * jv[o + 5 + p];
                gv[go + p] += ap * rx + bp * ry;
                for (int q = 0; q < 5; q++) hvv[ho + 5 * p + q] += ap * jv[o + q] + bp * jv[o + 5 + q];
            }
        }
    }

    public static void LandmarkSums(Index1D j, ArrayView<int> start, ArrayView<int> items, ArrayView<double> weight,
        ArrayView<double> residual, ArrayView<double> jl, ArrayView<double> hll, ArrayView<double> gl)
    {
        long ho = 9L * j, go = 3L * j;
        for (int t = 0; t < 9; t++) hll[ho + t] = 0;
        for (int t = 0; t < 3; t++) gl[go + t] = 0;
        for (int t = start[j]; t < start[j + 1]; t++)
        {
            int k = items[t];
            double w = weight[k], rx = residual[2 * k], ry = residual[2 * k + 1];
            long o = 6L * k;
            for (int p = 0; p < 3; p++)
            {
                double ap = w * jl[o + p], bp = w * jl[o + 3 + p];
                gl[go + p] += ap * rx + bp * ry;
                for (int q = 0; q < 3; q++) hll[ho + 3 * p + q] += ap * jl[o + q] + bp * jl[o + 3 + q];
            }
        }
    }
}
