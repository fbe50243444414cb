namespace Tomalign.Core.Simulation;

/// <summary>
/// Parameters of a simulated tilt series (see <see cref="TiltSeriesSimulator"/>). Lengths are in
/// unbinned pixels, angles in degrees, densities are linear absorption per pixel of path.
/// Call <see cref="Validate"/> (the simulator does) to reject nonsense with a clear message.
/// </summary>
public sealed record SimulationOptions
{
    /// <summary>
    /// Defaults scaled to an n×n image: the 512-pixel defaults (slab 120 px, 20 beads of radius 5)
    /// shrink with the image so that small test and benchmark series still have room for beads.
    /// </summary>
    public static SimulationOptions ForSize(int n)
    {
        double f = Math.Min(1.0, n / 512.0);
        return new SimulationOptions
        {
            Nx = n, Ny = n,
            ThicknessPixels = Math.Max(12, Math.Round(120 * f)),
            BeadRadiusPixels = Math.Max(2.5, 5 * Math.Sqrt(f)),
            BeadCount = Math.Max(3, (int)Math.Round(20 * f)),
            ShiftWalkSigmaPixels = Math.Max(0.5, 2 * f),
        };
    }

    /// <summary>Image width in pixels.</summary>
    public int Nx { get; init; } = 512;
    /// <summary>Image height in pixels.</summary>
    public int Ny { get; init; } = 512;

    /// <summary>First nominal tilt (degrees).</summary>
    public double TiltMin { get; init; } = -60;
    /// <summary>Last nominal tilt (degrees); must be reachable from TiltMin in whole steps (±1e-6).</summary>
    public double TiltMax { get; init; } = 60;
    /// <summary>Nominal tilt increment (degrees), &gt; 0.</summary>
    public double TiltStep { get; init; } = 3;

    /// <summary>Slab thickness (pixels), along z in the specimen frame.</summary>
    public double ThicknessPixels { get; init; } = 120;
    /// <summary>Uniform absorption of the slab itself per pixel of path (projects to ρ·T/cos θ). 0 = none.</summary>
    public double SlabDensity { get; init; } = 0.001;

    /// <summary>Nominal tilt-axis angle α (degrees, counter-clockwise from +Y in the raw image).</summary>
    public double TiltAxisDegrees { get; init; } = 85;

    /// <summary>Number of gold beads.</summary>
    public int BeadCount { get; init; } = 20;
    /// <summary>Bead radius in pixels (5 → a ~10 px bead).</summary>
    public double BeadRadiusPixels { get; init; } = 5;
    /// <summary>Bead absorption per pixel of path (0.3 with radius 5 → 3 at the centre, transmission ≈ 5%).</summary>
    public double BeadDensity { get; init; } = 0.3;
    /// <summary>Beads on both the top and the bottom surface of the slab (alternating); else top only.</summary>
    public bool TwoSurfaces { get; init; } = true;

    /// <summary>Number of Gaussian blobs (the "cell" texture); −1 = automatic: one per
    /// <see cref="AutoBlobAreaPixels"/> px² of the specimen area that can enter the field.</summary>
    public int BlobCount { get; init; } = -1;
    /// <summary>Specimen area per blob when <see cref="BlobCount"/> is −1.</summary>
    public double AutoBlobAreaPixels { get; init; } = 500;
    /// <summary>Smallest blob sigma (pixels).</summary>
    public double BlobSigmaMin { get; init; } = 2;
    /// <summary>Largest blob sigma (pixels).</summary>
    public double BlobSigmaMax { get; init; } = 10;
    /// <summary>Mean blob amplitude (absorption per pixel at the blob centre); each blob draws
    /// uniformly in [0.5, 1.5]× this.</summary>
    public double BlobDensity { get; init; } = 0.006;

    /// <summary>Standard deviation of the per-view step of the shift random walk (pixels, per axis).</summary>
    public double ShiftWalkSigmaPixels { get; init; } = 2;
    /// <summary>Standard deviation of the per-view tilt-axis angle error (degrees).</summary>
    public double RotationJitterDegrees { get; init; } = 0.3;
    /// <summary>Standard deviation of the per-view magnification (relative; 0.005 = 0.5%).</summary>
    public double MagnificationJitter { get; init; } = 0.005;
    /// <summary>Standard deviation of the true tilt about the nominal one (degrees).</summary>
    public double TiltErrorDegrees { get; init; } = 0.2;

    /// <summary>
    /// A known in-plane distortion (tiltalign's model, <see cref="Geometry.ViewGeometry"/>): the X-stretch of view i is
    /// this × (θᵢ² − θ_ref²) / θ_max² (0 at the reference view, this at the largest tilt; e.g. 0.01 = 1 %). 0: none.
    /// Deterministic (draws no random numbers), so the rest of the series is the same with or without it.
    /// </summary>
    public double XStretchAtMaxTilt { get; init; }
    /// <summary>A known skew (degrees), changing linearly with tilt: this × (θᵢ − θ_ref) / θ_max. 0: none.</summary>
    public double SkewAtMaxTiltDegrees { get; init; }

    /// <summary>
    /// A known local warp (<see cref="LocalWarp"/>): the projections move by up to 2× this many pixels at the corners of the
    /// field at the largest tilt, by an amount that varies across the field (a local rotation and scale). 0: none (the default).
    /// </summary>
    public double LocalWarpPixels { get; init; }

    /// <summary>Electrons per pixel per view for Poisson shot noise; 0 = no noise.</summary>
    public double DoseElectronsPerPixel { get; init; } = 20;

    /// <summary>
    /// Views spoiled on purpose (index in <b>sorted</b> tilt order, before any <see cref="Order"/> permutation):
    /// what real series contain and what every stage must notice. Empty by default.
    /// </summary>
    public IReadOnlyList<BadView> BadViews { get; init; } = [];

    /// <summary>
    /// Absorption per pixel of path of a carbon film filling the slab on one side of a straight edge that crosses the
    /// field (a hole edge: vacuum on one side, carbon on the other); 0 = none. A strong feature that is not the
    /// specimen's texture, projected analytically (the edge smears into a ramp of width T·tan θ with tilt).
    /// </summary>
    public double CarbonDensity { get; init; }
    /// <summary>Direction of the carbon edge's normal in the specimen plane (degrees from +x).</summary>
    public double CarbonEdgeAngleDegrees { get; init; } = 30;
    /// <summary>Signed distance of the carbon edge from the specimen centre along its normal, as a fraction of the image half-size.</summary>
    public double CarbonEdgeOffset { get; init; } = 0.35;

    /// <summary>
    /// Light beads: the written images are 2 − I instead of I (an inverted-contrast stack, as some
    /// pipelines write), so gold is bright on a dark background.
    /// </summary>
    public bool InvertContrast { get; init; }

    /// <summary>Order of the views in the written stack: sorted by tilt, or as a dose-symmetric scheme acquires them.</summary>
    public ViewOrder Order { get; init; } = ViewOrder.Sorted;

    /// <summary>Seed of every random choice: the same options give a bit-identical series.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Number of views: TiltMin, TiltMin+TiltStep, …, TiltMax.</summary>
    public int ViewCount
    {
        get
        {
            double steps = (TiltMax - TiltMin) / TiltStep;
            return TiltStep > 0 && steps >= 0 && steps <= 10000 ? (int)Math.Floor(steps + 1e-6) + 1 : 0; // 0: invalid range (Validate says why)
        }
    }

    /// <summary>Nominal tilt of view <paramref name="i"/>.</summary>
    public double NominalTilt(int i) => TiltMin + i * TiltStep;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad parameter.</summary>
    public void Validate()
    {
        static void Fail(string name, string why) =>
            throw new ArgumentException($"simulation option {name} {why}", name);
        static void Finite(string name, double v)
        {
            if (!double.IsFinite(v)) Fail(name, $"must be a finite number (got {v})");
        }
        static void NonNegative(string name, double v)
        {
            Finite(name, v);
            if (v < 0) Fail(name, $"must be ≥ 0 (got {v})");
        }

        if (Nx < 16) Fail(nameof(Nx), $"must be at least 16 pixels (got {Nx})");
        if (Ny < 16) Fail(nameof(Ny), $"must be at least 16 pixels (got {Ny})");
        Finite(nameof(TiltMin), TiltMin); Finite(nameof(TiltMax), TiltMax); Finite(nameof(TiltStep), TiltStep);
        if (TiltStep <= 0) Fail(nameof(TiltStep), $"must be > 0 (got {TiltStep})");
        if (TiltMin > TiltMax) Fail(nameof(TiltMin), $"({TiltMin}) must not exceed {nameof(TiltMax)} ({TiltMax})");
        if (TiltMin <= -89 || TiltMax >= 89) Fail(nameof(TiltMax), $"and {nameof(TiltMin)} must lie within (−89, 89) degrees (got {TiltMin} … {TiltMax})");
        if ((TiltMax - TiltMin) / TiltStep > 10000) Fail(nameof(TiltStep), "gives more than 10000 views");
        if (Math.Abs(NominalTilt(ViewCount - 1) - TiltMax) > 1e-6 * Math.Max(1, TiltStep))
            Fail(nameof(TiltMax), $"({TiltMax}) is not TiltMin ({TiltMin}) plus a whole number of steps ({TiltStep})");
        if ((long)Nx * Ny * ViewCount > Array.MaxLength)
            Fail(nameof(Nx), $"× {nameof(Ny)} × views ({Nx}×{Ny}×{ViewCount}) is too large to hold in memory");
        Finite(nameof(ThicknessPixels), ThicknessPixels);
        if (ThicknessPixels <= 0) Fail(nameof(ThicknessPixels), $"must be > 0 (got {ThicknessPixels})");
        NonNegative(nameof(SlabDensity), SlabDensity);
        Finite(nameof(TiltAxisDegrees), TiltAxisDegrees);
        if (BeadCount < 0) Fail(nameof(BeadCount), $"must be ≥ 0 (got {BeadCount})");
        Finite(nameof(BeadRadiusPixels), BeadRadiusPixels);
        if (BeadRadiusPixels <= 0) Fail(nameof(BeadRadiusPixels), $"must be > 0 (got {BeadRadiusPixels})");
        if (BeadCount > 0 && 2 * BeadRadiusPixels > ThicknessPixels)
            Fail(nameof(BeadRadiusPixels), $"({BeadRadiusPixels}) is too large for a slab {ThicknessPixels} pixels thick");
        if (BeadCount > 0 && 4 * BeadRadiusPixels > Math.Min(Nx, Ny) / 2.0)
            Fail(nameof(BeadRadiusPixels), $"({BeadRadiusPixels}) is too large for a {Nx}×{Ny} image");
        NonNegative(nameof(BeadDensity), BeadDensity);
        if (BlobCount < -1) Fail(nameof(BlobCount), $"must be ≥ 0, or −1 for automatic (got {BlobCount})");
        Finite(nameof(AutoBlobAreaPixels), AutoBlobAreaPixels);
        if (AutoBlobAreaPixels <= 0) Fail(nameof(AutoBlobAreaPixels), $"must be > 0 (got {AutoBlobAreaPixels})");
        Finite(nameof(BlobSigmaMin), BlobSigmaMin); Finite(nameof(BlobSigmaMax), BlobSigmaMax);
        if (BlobSigmaMin < 0.5) Fail(nameof(BlobSigmaMin), $"must be ≥ 0.5 pixel (got {BlobSigmaMin})");
        if (BlobSigmaMax < BlobSigmaMin) Fail(nameof(BlobSigmaMax), $"({BlobSigmaMax}) must be ≥ {nameof(BlobSigmaMin)} ({BlobSigmaMin})");
        if (BlobSigmaMax > Math.Min(Nx, Ny) / 4.0) Fail(nameof(BlobSigmaMax), $"({BlobSigmaMax}) is too large for a {Nx}×{Ny} image");
        NonNegative(nameof(BlobDensity), BlobDensity);
        NonNegative(nameof(ShiftWalkSigmaPixels), ShiftWalkSigmaPixels);
        NonNegative(nameof(RotationJitterDegrees), RotationJitterDegrees);
        NonNegative(nameof(MagnificationJitter), MagnificationJitter);
        if (MagnificationJitter > 0.1) Fail(nameof(MagnificationJitter), $"must be ≤ 0.1 (got {MagnificationJitter})");
        NonNegative(nameof(TiltErrorDegrees), TiltErrorDegrees);
        Finite(nameof(XStretchAtMaxTilt), XStretchAtMaxTilt);
        if (Math.Abs(XStretchAtMaxTilt) > 0.2) Fail(nameof(XStretchAtMaxTilt), $"must be within ±0.2 (got {XStretchAtMaxTilt})");
        Finite(nameof(SkewAtMaxTiltDegrees), SkewAtMaxTiltDegrees);
        if (Math.Abs(SkewAtMaxTiltDegrees) > 10) Fail(nameof(SkewAtMaxTiltDegrees), $"must be within ±10° (got {SkewAtMaxTiltDegrees})");
        Finite(nameof(LocalWarpPixels), LocalWarpPixels);
        if (Math.Abs(LocalWarpPixels) > 50) Fail(nameof(LocalWarpPixels), $"must be within ±50 pixels (got {LocalWarpPixels})");
        NonNegative(nameof(DoseElectronsPerPixel), DoseElectronsPerPixel);
        NonNegative(nameof(CarbonDensity), CarbonDensity);
        Finite(nameof(CarbonEdgeAngleDegrees), CarbonEdgeAngleDegrees);
        Finite(nameof(CarbonEdgeOffset), CarbonEdgeOffset);
        ArgumentNullException.ThrowIfNull(BadViews, nameof(BadViews));
        foreach (var b in BadViews)
            if (b.View < 0 || b.View >= ViewCount) Fail(nameof(BadViews), $"names view {b.View}, outside 0…{ViewCount - 1}");
    }
}

/// <summary>How a spoiled view (<see cref="SimulationOptions.BadViews"/>) is spoiled.</summary>
public enum BadViewKind
{
    /// <summary>Almost no electrons: the beam was blanked or the view is over a grid bar (1 % of the dose).</summary>
    Dark,
    /// <summary>No specimen at all: shot noise of the bare beam at the view's dose (a view of the wrong place).</summary>
    Noise,
    /// <summary>Ten times the dose with the same specimen: a badly exposed view whose statistics differ from its neighbours.</summary>
    Overexposed,
}

/// <summary>One spoiled view of a simulated series, by its index in sorted tilt order.</summary>
public readonly record struct BadView(int View, BadViewKind Kind);

/// <summary>The order in which the views are written.</summary>
public enum ViewOrder
{
    /// <summary>By increasing tilt.</summary>
    Sorted,
    /// <summary>Dose-symmetric (Hagen): the view nearest zero, then pairs of two alternating to either side (0, +3, +6, −3, −6, +9, +12, …).</summary>
    DoseSymmetric,
}
