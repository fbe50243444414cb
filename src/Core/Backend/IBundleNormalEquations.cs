namespace Tomalign.Core.Backend;

/// <summary>
/// The observations of a bundle adjustment, fixed for a solve: observation k is landmark
/// <see cref="Landmark"/>[k] seen in view <see cref="View"/>[k] at (<see cref="X"/>[k], <see cref="Y"/>[k]),
/// in pixels relative to the image centre (NX/2, NY/2). Indexes of the observations by view
/// and by landmark (CSR) are built once here, so that every backend can reduce without atomics.
/// </summary>
public sealed class BundleProblem
{
    public BundleProblem(int viewCount, int landmarkCount, int[] view, int[] landmark, double[] x, double[] y)
    {
        int n = view.Length;
        if (landmark.Length != n || x.Length != n || y.Length != n)
            throw new ArgumentException("observation arrays differ in length");
        ViewCount = viewCount;
        LandmarkCount = landmarkCount;
        View = view; Landmark = landmark; X = x; Y = y;
        for (int k = 0; k < n; k++)
        {
            if ((uint)view[k] >= (uint)viewCount) throw new ArgumentOutOfRangeException(nameof(view), $"observation {k}: view {view[k]} outside 0..{viewCount - 1}");
            if ((uint)landmark[k] >= (uint)landmarkCount) throw new ArgumentOutOfRangeException(nameof(landmark), $"observation {k}: landmark {landmark[k]} outside 0..{landmarkCount - 1}");
        }
        (ByViewStart, ByViewObservation) = Index(view, viewCount);
        (ByLandmarkStart, ByLandmarkObservation) = Index(landmark, landmarkCount);
    }

    public int ViewCount { get; }
    public int LandmarkCount { get; }
    public int ObservationCount => View.Length;
    public int[] View { get; }
    public int[] Landmark { get; }
    public double[] X { get; }
    public double[] Y { get; }

    /// <summary>Observations of view i are ByViewObservation[ByViewStart[i] .. ByViewStart[i+1]).</summary>
    public int[] ByViewStart { get; }
    public int[] ByViewObservation { get; }
    /// <summary>Observations of landmark j are ByLandmarkObservation[ByLandmarkStart[j] .. ByLandmarkStart[j+1]).</summary>
    public int[] ByLandmarkStart { get; }
    public int[] ByLandmarkObservation { get; }

    private static (int[] Start, int[] Items) Index(int[] key, int count)
    {
        var start = new int[count + 1];
        foreach (int k in key) start[k + 1]++;
        for (int i = 0; i < count; i++) start[i + 1] += start[i];
        var items = new int[key.Length];
        var fill = (int[])start.Clone();
        for (int k = 0; k < key.Length; k++) items[fill[key[k]]++] = k;
        return (start, items);
    }
}

/// <summary>
/// Layout of the parameter arrays shared by the solver and the backends.
/// View state: <see cref="ViewStateSize"/> doubles per view: rotation α (rad), tilt θ (rad),
/// magnification m, shift dx, shift dy (pixels), x-axis tilt φ (rad, held constant).
/// The first <see cref="ViewParameters"/> are the differentiated ones. Landmarks: x, y, z per landmark.
/// </summary>
public static class BundleLayout
{
    public const int ViewStateSize = 6;
    public const int ViewParameters = 5;
    public const int LandmarkParameters = 3;
    public const int Rotation = 0, Tilt = 1, Magnification = 2, ShiftX = 3, ShiftY = 4, XAxisTilt = 5;
}

/// <summary>
/// Weighted normal-equation blocks of one linearisation (r = projected − measured, weight w per
/// observation applied to both components):
/// <list type="bullet">
/// <item><see cref="Residual"/>: 2 per observation (rx, ry).</item>
/// <item><see cref="ViewView"/>: Σ w JvᵀJv per view, 5×5 row-major (views share no observation, so
/// the view×view part of JᵀWJ is block diagonal in the per-view parameters).</item>
/// <item><see cref="LandmarkLandmark"/>: Σ w JlᵀJl per landmark, 3×3 row-major.</item>
/// <item><see cref="ViewLandmark"/>: w JvᵀJl per observation (one view×landmark pair), 5×3 row-major.</item>
/// <item><see cref="ViewGradient"/>: Σ w Jvᵀr per view (5); <see cref="LandmarkGradient"/>: Σ w Jlᵀr per landmark (3).</item>
/// </list>
/// </summary>
public sealed class BundleNormalBlocks
{
    public BundleNormalBlocks(BundleProblem problem) : this(problem, BundleLayout.ViewParameters) { }

    /// <summary>Blocks of <paramref name="viewParameters"/> parameters per view (the backends fill five; the solver's
    /// distortion model seven: the five, X-stretch and skew). The block sizes above scale with it.</summary>
    public BundleNormalBlocks(BundleProblem problem, int viewParameters)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ViewParameters = viewParameters;
        Residual = new double[2 * problem.ObservationCount];
        ViewView = new double[viewParameters * viewParameters * problem.ViewCount];
        LandmarkLandmark = new double[9 * problem.LandmarkCount];
        ViewLandmark = new double[3 * viewParameters * problem.ObservationCount];
        ViewGradient = new double[viewParameters * problem.ViewCount];
        LandmarkGradient = new double[3 * problem.LandmarkCount];
    }

    /// <summary>Differentiated parameters per view (5 unless built otherwise).</summary>
    public int ViewParameters { get; }

    public double[] Residual { get; }
    public double[] ViewView { get; }
    public double[] LandmarkLandmark { get; }
    public double[] ViewLandmark { get; }
    public double[] ViewGradient { get; }
    public double[] LandmarkGradient { get; }
    /// <summary>Σ w (rx² + ry²).</summary>
    public double Cost { get; set; }
}

/// <summary>
/// The heavy part of a bundle-adjustment iteration: for every observation at once, the residual
/// of the projection model (<see cref="BundleModel"/>) and its Jacobian, accumulated into the
/// weighted normal-equation blocks. Implementations: managed multi-threaded (Tomalign.Cpu) and
/// ILGPU (Tomalign.Gpu). Not safe for concurrent calls on one instance.
/// </summary>
public interface IBundleNormalEquations
{
    string Name { get; }

    /// <summary>Fills every array of <paramref name="output"/> (overwriting) and its cost.</summary>
    void Accumulate(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks,
        ReadOnlySpan<double> weights, BundleNormalBlocks output);

    /// <summary>Residuals only (2 per observation); returns Σ w (rx² + ry²).</summary>
    double Residuals(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks,
        ReadOnlySpan<double> weights, Span<double> residual);
}

/// <summary>
/// The projection model of DESIGN.md for one observation, with its derivatives:
/// p = m·R(α)·P·R_y(θ)·R_x(φ)·X + d; residual r = p − measured.
/// </summary>
public static class BundleModel
{
    /// <summary>
    /// Residual and Jacobian of one observation. <paramref name="jv"/>: 2×5 row-major
    /// (∂r/∂(α, θ, m, dx, dy)); <paramref name="jl"/>: 2×3 row-major (∂r/∂(x, y, z)).
    /// </summary>
    public static void Evaluate(ReadOnlySpan<double> view, double x, double y, double z, double mx, double my,
        out double rx, out double ry, Span<double> jv, Span<double> jl)
    {
        double ca = Math.Cos(view[0]), sa = Math.Sin(view[0]);
        double ct = Math.Cos(view[1]), st = Math.Sin(view[1]);
        double cp = Math.Cos(view[5]), sp = Math.Sin(view[5]);
        double m = view[2];
        double y1 = y * cp - z * sp, z1 = y * sp + z * cp;
        double u = x * ct + z1 * st, v = y1;
        double ru = ca * u - sa * v, rv = sa * u + ca * v; // R(α)(u, v)
        rx = m * ru + view[3] - mx;
        ry = m * rv + view[4] - my;
        // ∂/∂α
        jv[0] = -m * rv; jv[5] = m * ru;
        // ∂/∂θ: ∂u/∂θ = −x sinθ + z1 cosθ
        double du = -x * st + z1 * ct;
        jv[1] = m * ca * du; jv[6] = m * sa * du;
        // ∂/∂m
        jv[2] = ru; jv[7] = rv;
        jv[3] = 1; jv[8] = 0;
        jv[4] = 0; jv[9] = 1;
        // ∂(u, v)/∂(x, y, z)
        double ux = ct, uy = st * sp, uz = st * cp;
        double vy = cp, vz = -sp;
        jl[0] = m * ca * ux; jl[1] = m * (ca * uy - sa * vy); jl[2] = m * (ca * uz - sa * vz);
        jl[3] = m * sa * ux; jl[4] = m * (sa * uy + ca * vy); jl[5] = m * (sa * uz + ca * vz);
    }

    /// <summary>The linear part A (2×3, row-major) of the projection: p = A·X + d.</summary>
    public static void LinearPart(ReadOnlySpan<double> view, Span<double> a)
    {
        Span<double> jv = stackalloc double[10];
        Evaluate(view, 0, 0, 0, 0, 0, out _, out _, jv, a);
    }
}
