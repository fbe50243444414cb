namespace Tomalign.Core.Backend.Verification;

public static partial class KernelVerifier
{
    /// <summary>
    /// Tolerance of the bundle normal equations: both sides accumulate in double; only the order
    /// of the sums differs, so they agree to ~1e-12 of the largest entry. 1e-6 is the line.
    /// </summary>
    public const double BundleTolerance = 1e-6;

    /// <summary>(views, landmarks) for the bundle check: a realistic problem on a GPU, a small one on the emulator.</summary>
    public static (int Views, int Landmarks) BundleSizeFor(IComputeBackend gpu, int size) =>
        gpu.IsGpu ? (61, 2000) : (Math.Clamp(size / 4, 5, 15), Math.Clamp(size / 2, 8, 40));

    /// <summary>
    /// Residuals and every normal-equation block of a random bundle problem (80 % of the points
    /// observed, random view states, landmarks and weights), GPU against the managed twin. The
    /// outputs are filled with NaN first, so an element the device did not write shows as +∞ error.
    /// </summary>
    public static IEnumerable<VerifyResult> VerifyBundle(IComputeBackend gpu, IComputeBackend cpu, (int Views, int Landmarks) size, Random random)
    {
        var (views, landmarks) = size;
        var v = new List<int>(); var l = new List<int>(); var x = new List<double>(); var y = new List<double>();
        for (int j = 0; j < landmarks; j++)
            for (int i = 0; i < views; i++)
                if (random.NextDouble() < 0.8) { v.Add(i); l.Add(j); x.Add(random.NextDouble() * 1000 - 500); y.Add(random.NextDouble() * 1000 - 500); }
        var problem = new BundleProblem(views, landmarks, v.ToArray(), l.ToArray(), x.ToArray(), y.ToArray());
        var state = new double[BundleLayout.ViewStateSize * views];
        for (int i = 0; i < views; i++)
        {
            int o = BundleLayout.ViewStateSize * i;
            state[o] = random.NextDouble() - 0.5;
            state[o + 1] = 2 * random.NextDouble() - 1;
            state[o + 2] = 0.9 + 0.2 * random.NextDouble();
            state[o + 3] = 20 * random.NextDouble() - 10;
            state[o + 4] = 20 * random.NextDouble() - 10;
            state[o + 5] = 0.1 * random.NextDouble();
        }
        var lm = new double[3 * landmarks];
        for (int k = 0; k < lm.Length; k++) lm[k] = random.NextDouble() * 800 - 400;
        var w = new double[problem.ObservationCount];
        for (int k = 0; k < w.Length; k++) w[k] = random.NextDouble();

        var expected = new BundleNormalBlocks(problem);
        var actual = new BundleNormalBlocks(problem);
        foreach (var arr in Arrays(actual)) Array.Fill(arr, double.NaN);
        cpu.BundleNormalEquations.Accumulate(problem, state, lm, w, expected);
        gpu.BundleNormalEquations.Accumulate(problem, state, lm, w, actual);

        string name = $"{views} views × {landmarks} landmarks";
        var e = Arrays(expected).ToArray();
        var a = Arrays(actual).ToArray();
        bool allWritten = a.All(arr => !arr.Any(double.IsNaN));
        double error = 0;
        for (int k = 0; k < e.Length; k++) error = Math.Max(error, MaxRelativeError(a[k], e[k]));
        error = Math.Max(error, Math.Abs(actual.Cost - expected.Cost) / Math.Max(Math.Abs(expected.Cost), 1e-300));
        yield return new VerifyResult("bundle", name + " normal eq.", error, BundleTolerance, allWritten, allWritten && error <= BundleTolerance);

        var re = new double[2 * problem.ObservationCount];
        var ra = new double[2 * problem.ObservationCount];
        Array.Fill(ra, double.NaN);
        double ce = cpu.BundleNormalEquations.Residuals(problem, state, lm, w, re);
        double ca = gpu.BundleNormalEquations.Residuals(problem, state, lm, w, ra);
        bool written = !ra.Any(double.IsNaN);
        double err = Math.Max(MaxRelativeError(ra, re), Math.Abs(ca - ce) / Math.Max(Math.Abs(ce), 1e-300));
        yield return new VerifyResult("bundle", name + " residuals", err, BundleTolerance, written, written && err <= BundleTolerance);
    }

    private static IEnumerable<double[]> Arrays(BundleNormalBlocks b) =>
        [b.Residual, b.ViewView, b.LandmarkLandmark, b.ViewLandmark, b.ViewGradient, b.LandmarkGradient];
}
