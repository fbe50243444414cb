namespace Tomalign.Core.Backend;

/// <summary>
/// The geometry of one Y slab of a reconstruction with local alignments. Every voxel column (row r, x) has its own projection
/// in each view i, given by the column table: four floats per (r, x, i), [r][x][i][Uf, Uz, Vf, Vz], so that the voxel at depth
/// Z = z − Thickness/2 + ZShift sees view i at u = Uf + Uz·Z (a column of the held projections, 0 … Width−1) and v = Vf + Vz·Z
/// (a row of the InRows rows held). Samples are bilinear between integer (u, v); a neighbour outside the projection counts as 0.
/// </summary>
public readonly record struct LocalSlabGeometry(int Width, int Rows, int Views, int Thickness, float ZShift, int InRows)
{
    public long ProjectionLength => (long)Views * InRows * Width;
    public long SlabLength => (long)Rows * Thickness * Width;
    public long ColumnLength => 4L * Rows * Width * Views;

    public void Validate(long projections, long columns, int weights, long slab)
    {
        if (Width < 1 || Rows < 1 || Views < 1 || Thickness < 1 || InRows < 1)
            throw new ArgumentOutOfRangeException(nameof(Width), $"local slab {Width}×{Rows}, {Views} views, thickness {Thickness}, {InRows} rows held must be positive");
        if (!float.IsFinite(ZShift)) throw new ArgumentException("the z shift must be a number");
        if (weights != Views) throw new ArgumentException($"{weights} weights for {Views} views");
        if (projections < ProjectionLength) throw new ArgumentException($"projections hold {projections} floats, {ProjectionLength} needed");
        if (columns < ColumnLength) throw new ArgumentException($"the column table holds {columns} floats, {ColumnLength} needed");
        if (slab < SlabLength) throw new ArgumentException($"slab holds {slab} floats, {SlabLength} needed");
    }
}

/// <summary>
/// Backprojection with local alignments (IMOD tilt's LOCALFILE): each voxel column has its own projection per view (the
/// column table of <see cref="LocalSlabGeometry"/>). Implementations: managed (Tomalign.Cpu, the twin) and ILGPU.
/// Layouts: projections [view][row][u]; slab [row][z][x] (x fastest).
/// </summary>
public interface ILocalBackprojector
{
    /// <summary>slab[r][z][x] = Σᵢ weightᵢ · sample(projections[i], u, v); every element is written.</summary>
    void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> columns, ReadOnlySpan<float> weights, LocalSlabGeometry geometry, Span<float> slab);

    /// <summary>
    /// WBP of one slab: every held projection line (Views × InRows lines of Width) filtered as
    /// <see cref="IBackprojector.FilterBackproject"/> does, then <see cref="Backproject"/>ed.
    /// </summary>
    void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> columns,
        ReadOnlySpan<float> weights, LocalSlabGeometry geometry, Span<float> slab);
}
