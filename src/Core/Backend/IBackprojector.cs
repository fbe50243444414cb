namespace Tomalign.Core.Backend;

/// <summary>
/// The geometry of one Y slab of a reconstruction (tilt axis along Y in the aligned views).
/// A voxel (x, z) of row r, X = x − Width/2, Z = z − Thickness/2 + ZShift, sees view i at
/// u = X·cos θᵢ + Z·sin θᵢ + Width/2 (DESIGN.md: u = x·cosθ + z·sinθ) in projection row r.
/// With an x-axis tilt φ (the specimen rotated about X first: y' = y·cosφ − z·sinφ, z' = y·sinφ + z·cosφ)
/// the voxel at Y = RowOffset + r (relative to the image centre) sees u = X·cos θᵢ + (Y·sinφ + Z·cosφ)·sin θᵢ + Width/2
/// in the (fractional) projection row v = Y·cosφ − Z·sinφ − InRowOrigin, of InRows rows held.
/// Samples are bilinear between integer (u, v); a neighbour outside the projection counts as 0
/// (with φ = 0, v = r exactly and the sample is linear along u alone).
/// </summary>
public readonly record struct SlabGeometry(int Width, int Rows, int Views, int Thickness, float ZShift,
    int InRows = 0, float CosPhi = 1, float SinPhi = 0, float RowOffset = 0, float InRowOrigin = 0)
{
    /// <summary>Projection rows held per view (Rows without an x-axis tilt).</summary>
    public int ProjectionRows => InRows > 0 ? InRows : Rows;
    public long ProjectionLength => (long)Views * ProjectionRows * Width;
    public long SlabLength => (long)Rows * Thickness * Width;

    /// <summary>Forward projection knows no x-axis tilt: its projection rows are the slab's rows.</summary>
    public void ValidateForProjection()
    {
        if (SinPhi != 0 || CosPhi != 1 || ProjectionRows != Rows || RowOffset != InRowOrigin)
            throw new ArgumentException("forward projection with an x-axis tilt is not supported");
    }

    public void Validate(int cosines, int sines, int weights, long projections, long slab)
    {
        if (Width < 1 || Rows < 1 || Views < 1 || Thickness < 1)
            throw new ArgumentOutOfRangeException(nameof(Width), $"slab {Width}×{Rows}, {Views} views, thickness {Thickness} must be positive");
        if (cosines != Views || sines != Views || weights != Views)
            throw new ArgumentException($"{cosines} cosines, {sines} sines, {weights} weights for {Views} views");
        if (projections < ProjectionLength) throw new ArgumentException($"projections hold {projections} floats, {ProjectionLength} needed");
        if (slab < SlabLength) throw new ArgumentException($"slab holds {slab} floats, {SlabLength} needed");
    }
}

/// <summary>
/// Backprojection and forward projection of Y slabs: the heavy part of WBP and SIRT.
/// Implementations: managed (Tomalign.Cpu, the oracle) and ILGPU (Tomalign.Gpu).
/// Layouts: projections [view][row][u]; slab [row][z][x] (x fastest).
/// </summary>
public interface IBackprojector
{
    /// <summary>slab[r][z][x] = Σᵢ weightᵢ · sample(projections[i][r], u); every element is written.</summary>
    void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry geometry, Span<float> slab);

    /// <summary>
    /// projections[i][r][u] = Σ_z sample(slab[r][z], x) / |cos θᵢ|, x = (u − W/2 − Z·sin θᵢ)/cos θᵢ + W/2 (the ray through
    /// u, one sample per z plane, linear in x; outside 0…W−1 counts as 0); every element is written.
    /// </summary>
    void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        SlabGeometry geometry, Span<float> projections);

    /// <summary>
    /// WBP of one slab: every projection line (Views × ProjectionRows lines of Width) padded to <paramref name="pad"/>
    /// samples with its edge values (the right half of the extra with its last value, the rest with its first),
    /// transformed, weighted by the half-spectrum <paramref name="filter"/> (pad/2+1 values, the inverse transform's
    /// 1/pad folded in), transformed back and cropped, then <see cref="Backproject"/>ed. On a device the filtered lines
    /// stay there for the backprojection. <paramref name="projections"/> is not changed; every slab element is written.
    /// </summary>
    void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> cosines,
        ReadOnlySpan<float> sines, ReadOnlySpan<float> weights, SlabGeometry geometry, Span<float> slab);

    /// <summary>
    /// SIRT of one slab (no x-axis tilt), every iteration in this one call: f ← f + λ·C·Aᵀ·R·(p − A·f) from f = 0, with A
    /// <see cref="Project"/>, Aᵀ <see cref="Backproject"/> (unit weights), R = 1/(A·1) and C = 1/(Aᵀ·1), on the box
    /// <see cref="SirtBox"/> widens (no data, R = 0, outside the measured width), clamped at 0 after every iteration with
    /// <see cref="SirtSettings.Positivity"/>; the central <see cref="SlabGeometry.Width"/> is written to
    /// <paramref name="slab"/> (every element). On a device the projections, the volume and the sums stay there across
    /// iterations; only the slab comes back. <paramref name="iterationDone"/> is called after each iteration (its index,
    /// from 0) and <paramref name="cancel"/> is checked before each.
    /// </summary>
    void Sirt(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry geometry,
        SirtSettings settings, Span<float> slab, Action<int>? iterationDone = null, CancellationToken cancel = default);
}

/// <summary>SIRT's iteration count, relaxation λ (0 &lt; λ ≤ 2) and clamp of negative densities.</summary>
public readonly record struct SirtSettings(int Iterations, float Relaxation, bool Positivity)
{
    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentOutOfRangeException(nameof(Iterations), $"SIRT needs ≥ 1 iteration, got {Iterations}");
        if (!(Relaxation > 0 && Relaxation <= 2)) throw new ArgumentOutOfRangeException(nameof(Relaxation), $"SIRT relaxation must be in (0, 2], got {Relaxation}");
    }
}

/// <summary>
/// The box SIRT iterates on: the slab widened in X on each side by the reach of the tilted rays beyond the detector
/// (thickness/2 + |z shift|)·tan θmax, plus 2, so that material outside the measured width is not forced into it.
/// Shared by every implementation of <see cref="IBackprojector.Sirt"/>.
/// </summary>
public static class SirtBox
{
    /// <summary>Columns added on each side.</summary>
    public static int Margin(SlabGeometry g, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines)
    {
        double maxTan = 0;
        for (int i = 0; i < g.Views; i++) maxTan = Math.Max(maxTan, Math.Abs(sines[i] / cosines[i]));
        return (int)Math.Ceiling((g.Thickness / 2.0 + Math.Abs(g.ZShift)) * maxTan) + 2;
    }

    /// <summary>The widened geometry for a margin of <paramref name="margin"/> columns.</summary>
    public static SlabGeometry Widened(SlabGeometry g, int margin) => g with { Width = g.Width + 2 * margin };

    /// <summary>Checks SIRT's arguments: those of <see cref="SlabGeometry.Validate"/>, no x-axis tilt, and the settings.</summary>
    public static void Validate(SlabGeometry g, int cosines, int sines, long projections, long slab, SirtSettings settings)
    {
        g.Validate(cosines, sines, cosines, projections, slab);
        g.ValidateForProjection();
        settings.Validate();
    }
}

/// <summary>Argument checks of the row filter shared by its implementations.</summary>
public static class RowFilterArguments
{
    public static void Validate(int lines, int width, int filterLength, int pad)
    {
        if (lines < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(lines), $"bad row-filter size {lines} lines of {width}");
        if (pad < width) throw new ArgumentException($"the padded length {pad} is shorter than the line ({width})");
        if (!Fft.FftSize.IsGood(pad)) throw new ArgumentException($"the padded length {pad} has a prime factor other than 2, 3, 5; use {Fft.FftSize.NextGood(pad)}");
        if (filterLength != pad / 2 + 1) throw new ArgumentException($"the filter has {filterLength} weights, {pad / 2 + 1} needed for a padded length of {pad}");
    }
}
