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
