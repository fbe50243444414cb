using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Coarse;

/// <summary>
/// The coarse stage's geometry on its own: the neighbour pair's stretch (cos θ_ref / cos θ_moving across the tilt axis,
/// nothing along it) and the least squares for each view's offset D_v from the pair shifts t = D_ref − S·D_moving,
/// against offsets made up here (known truth), with noise and a wrong pair.
/// </summary>
public sealed class AxisOffsetTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(0.0, 10.0, 20.0)]
    [InlineData(-12.5, -35.0, -38.0)]
    [InlineData(85.0, 3.0, -6.0)]
    [InlineData(30.0, 50.0, 47.0)]   // the view with the smaller |tilt| is the reference whichever is given first
    public void TheNeighbourPairStretchesTheMoreTiltedViewAcrossTheAxisOnly(double axisDegrees, double tiltA, double tiltB)
    {
        var tilts = new[] { tiltA, tiltB };
        var pair = CoarseAligner.NeighbourPair(1, 0, tilts, axisDegrees, out double stretch);
        int moving = Math.Abs(tiltB) >= Math.Abs(tiltA) ? 1 : 0;
        Assert.Equal(moving, pair.Moving);
        Assert.Equal(1 - moving, pair.Reference);
        double expected = Math.Cos(tilts[1 - moving] * Math.PI / 180) / Math.Cos(tilts[moving] * Math.PI / 180);
        Assert.Equal(expected, stretch, 12);
        Assert.True(stretch >= 1);
        // The tilt axis lies at axisDegrees from +Y: along it nothing changes; across it lengths grow by the stretch.
        double a = axisDegrees * Math.PI / 180;
        (double X, double Y) along = (-Math.Sin(a), Math.Cos(a)), across = (Math.Cos(a), Math.Sin(a));
        var S = pair.MovingStretch;
        (double X, double Y) Apply((double X, double Y) v) => (S.A11 * v.X + S.A12 * v.Y, S.A21 * v.X + S.A22 * v.Y);
        var sa = Apply(along); var sc = Apply(across);
        Assert.Equal(along.X, sa.X, 12); Assert.Equal(along.Y, sa.Y, 12);
        Assert.Equal(stretch * across.X, sc.X, 12); Assert.Equal(stretch * across.Y, sc.Y, 12);
        Assert.Equal(0, S.Dx); Assert.Equal(0, S.Dy);
        // The pair is the same whichever view is named first.
        var swapped = CoarseAligner.NeighbourPair(0, 1, tilts, axisDegrees, out double s2);
        Assert.Equal(pair, swapped);
        Assert.Equal(stretch, s2);
    }

    [Fact]
    public void AViewAtNinetyDegreesIsNotStretched()
    {
        var pair = CoarseAligner.NeighbourPair(1, 0, new[] { 0.0, 90.0 }, 0, out double stretch);
        Assert.Equal(1, stretch);
        Assert.Equal(new Xf(1, 0, 0, 1, 0, 0), pair.MovingStretch);
    }

    /// <summary>
    /// Nine views ±60°, made-up offsets D_v (D = 0 at the reference view), first and second neighbour pairs with the
    /// stretches of <see cref="CoarseAligner.NeighbourPair"/>, t = D_ref − S·D_moving plus 0.05 px noise, and one pair
    /// 25 px wrong. The robust solve returns D within the noise and gives the wrong pair no weight; the plain solve is
    /// pulled by it. Views not in <c>good</c> keep D = 0.
    /// </summary>
    [Fact]
    public void SolvesTheOffsetsAndDropsAWrongPair()
    {
        var rng = new Random(12);
        double[] tilts = [-60, -45, -30, -15, 0, 15, 30, 45, 60];
        int nz = tilts.Length + 1, reference = 4, unused = 9;   // view 9 is blank: not good, in no pair
        var truth = new (double X, double Y)[nz];
        for (int v = 0; v < tilts.Length; v++)
            if (v != reference) truth[v] = (rng.NextDouble() * 40 - 20, rng.NextDouble() * 40 - 20);
        var allTilts = tilts.Append(0).ToArray();
        var pairs = new List<CorrelationPair>();
        for (int v = 1; v < tilts.Length; v++) pairs.Add(CoarseAligner.NeighbourPair(v, v - 1, allTilts, 7.5, out _));
        for (int v = 2; v < tilts.Length; v++) pairs.Add(CoarseAligner.NeighbourPair(v, v - 2, allTilts, 7.5, out _));
        var t = pairs.Select(p =>
        {
            var S = p.MovingStretch; var dr = truth[p.Reference]; var dm = truth[p.Moving];
            return (X: dr.X - (S.A11 * dm.X + S.A12 * dm.Y) + 0.05 * (rng.NextDouble() - 0.5),
                    Y: dr.Y - (S.A21 * dm.X + S.A22 * dm.Y) + 0.05 * (rng.NextDouble() - 0.5));
        }).ToArray();
        const int wrong = 5;
        t[wrong] = (t[wrong].X + 25, t[wrong].Y - 10);
        int[] good = Enumerable.Range(0, tilts.Length).ToArray();

        var (axis, weights) = CoarseAligner.SolveAxisOffsets(pairs, t, good, reference, nz);
        double worst = Enumerable.Range(0, nz).Max(v => Math.Max(Math.Abs(axis[v].X - truth[v].X), Math.Abs(axis[v].Y - truth[v].Y)));
        output.WriteLine($"robust: largest offset error {worst:F4} px; weight of the wrong pair {weights[wrong]:F3}, smallest other {weights.Where((_, p) => p != wrong).Min():F3}");
        Assert.True(worst < 0.1, $"largest offset error {worst:F4} px");
        Assert.Equal(0, weights[wrong]);
        Assert.All(weights.Where((_, p) => p != wrong), w => Assert.True(w > 0.9, $"weight {w}"));
        Assert.Equal((0.0, 0.0), axis[reference]);
        Assert.Equal((0.0, 0.0), axis[unused]);

        var (plain, _) = CoarseAligner.SolveAxisOffsets(pairs, t, good, reference, nz, null, robust: false);
        double plainWorst = Enumerable.Range(0, nz).Max(v => Math.Max(Math.Abs(plain[v].X - truth[v].X), Math.Abs(plain[v].Y - truth[v].Y)));
        output.WriteLine($"plain: largest offset error {plainWorst:F4} px");
        Assert.True(plainWorst > 1, $"the plain solve should be pulled by the wrong pair: {plainWorst:F4} px");

        // Given weights are kept as a factor: a pair given weight 0 is left out (here the wrong one, so even the plain solve is right).
        var given = Enumerable.Repeat(1.0, pairs.Count).ToArray();
        given[wrong] = 0;
        var (weighted, _) = CoarseAligner.SolveAxisOffsets(pairs, t, good, reference, nz, given, robust: false);
        double weightedWorst = Enumerable.Range(0, nz).Max(v => Math.Max(Math.Abs(weighted[v].X - truth[v].X), Math.Abs(weighted[v].Y - truth[v].Y)));
        Assert.True(weightedWorst < 0.1, $"with the wrong pair given weight 0: {weightedWorst:F4} px");
        // In the robust rounds too: a right pair given weight 0 stays at 0, one given 0.5 keeps at most that, though their
        // residuals alone would earn full weight.
        given[2] = 0; given[3] = 0.5;
        var (robustAxis, robustGiven) = CoarseAligner.SolveAxisOffsets(pairs, t, good, reference, nz, given);
        Assert.Equal(0, robustGiven[wrong]);
        Assert.Equal(0, robustGiven[2]);
        Assert.InRange(robustGiven[3], 0.45, 0.5);
        Assert.True(Enumerable.Range(0, nz).Max(v => Math.Abs(robustAxis[v].X - truth[v].X)) < 0.1);
    }

    /// <summary>Only the reference view is good: nothing to solve, every offset 0, the given weights returned.</summary>
    [Fact]
    public void WithOnlyTheReferenceEveryOffsetIsZero()
    {
        var pairs = new List<CorrelationPair> { new(0, 1, Xf.Identity) };
        var (axis, weights) = CoarseAligner.SolveAxisOffsets(pairs, [(3.0, 4.0)], [0], 0, 2, [0.5]);
        Assert.All(axis, a => Assert.Equal((0.0, 0.0), a));
        Assert.Equal([0.5], weights);
    }
}
