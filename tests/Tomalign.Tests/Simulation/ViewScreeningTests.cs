using Tomalign.Core;
using Tomalign.Core.Imaging;
using Tomalign.Core.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Simulation;

/// <summary>Bad views found against their neighbours across the zoo, and no good view excluded.</summary>
public sealed class ViewScreeningTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("bad-views", 1)]
    [InlineData("weak-texture", 2)]
    [InlineData("low-dose", 3)]
    [InlineData("light-beads", 4)]
    [InlineData("carbon-edge", 5)]
    [InlineData("markerless-weak", 6)]
    public void FindsExactlyTheSpoiledViews(string style, int seed)
    {
        var o = SimulationZoo.Get(style).Apply(SimulationOptions.ForSize(256) with { Seed = seed }) with
        {
            BadViews = [new BadView(4, BadViewKind.Noise), new BadView(20, BadViewKind.Dark), new BadView(33, BadViewKind.Overexposed), new BadView(40, BadViewKind.Noise)],
        };
        var s = new TiltSeriesSimulator().Simulate(o);
        var m = ViewScreening.Measure(s.Raw);
        var found = ViewScreening.Detect(m, s.NominalTilts);
        foreach (var e in found) output.WriteLine($"{e.View} {e.Problem}: {e.Reason}");
        Assert.Equal(new[] { 4, 20, 33, 40 }, found.Select(e => e.View));
        Assert.Equal(new[] { ViewProblem.NoStructure, ViewProblem.Dark, ViewProblem.Overexposed, ViewProblem.NoStructure }, found.Select(e => e.Problem));
    }

    [Theory]
    [InlineData("default", 7)]
    [InlineData("low-dose", 8)]
    [InlineData("thick", 9)]
    [InlineData("markerless", 10)]
    public void ExcludesNothingFromAGoodSeries_InAnyOrder(string style, int seed)
    {
        var o = SimulationZoo.Get(style).Apply(SimulationOptions.ForSize(256) with { Seed = seed, Order = ViewOrder.DoseSymmetric });
        var s = new TiltSeriesSimulator().Simulate(o);
        var found = ViewScreening.Detect(ViewScreening.Measure(s.Raw), s.NominalTilts);
        Assert.Empty(found);
    }

    [Fact]
    public void FindsTheSpoiledViewsOfAStackInAcquisitionOrder()
    {
        var o = SimulationZoo.Options("weak-texture", 256, 12) with { Order = ViewOrder.DoseSymmetric, BadViews = [new BadView(10, BadViewKind.Noise)] };
        var s = new TiltSeriesSimulator().Simulate(o);
        var found = ViewScreening.Detect(ViewScreening.Measure(s.Raw), s.NominalTilts);
        var e = Assert.Single(found);
        Assert.Equal(-30, s.NominalTilts[e.View], 6); // sorted view 10 of −60…60 step 3
    }

    [Fact]
    public void ParsesImodViewLists()
    {
        Assert.Equal(new[] { 0, 1, 2, 39 }, ViewScreening.ParseViewList("1-3,40", 41));
        Assert.Equal(new[] { 4, 6 }, ViewScreening.ParseViewList("5 7", 41));
        Assert.Throws<TomalignInputException>(() => ViewScreening.ParseViewList("0", 41));
        Assert.Throws<TomalignInputException>(() => ViewScreening.ParseViewList("40-42", 41));
        Assert.Throws<TomalignInputException>(() => ViewScreening.ParseViewList("a-b", 41));
        Assert.Throws<TomalignInputException>(() => ViewScreening.ParseViewList("5-3", 41));
        var user = ViewScreening.Detect(Enumerable.Repeat(new ViewMeasures(1, 1, 1), 5).ToArray(), [-6, -3, 0, 3, 6], [1]);
        Assert.Equal(ViewProblem.UserExcluded, Assert.Single(user).Problem);
    }
}

public sealed class ViewOrderingTests
{
    [Fact]
    public void SortsAcquisitionOrderAndRestoresIt()
    {
        double[] tilts = [0, 3, 6, -3, -6, 9];
        var o = ViewOrdering.For(tilts);
        Assert.False(o.IsIdentity);
        Assert.Equal(new double[] { -6, -3, 0, 3, 6, 9 }, o.ToSorted(tilts));
        Assert.Equal(tilts, o.ToInput(o.ToSorted(tilts)));
        Assert.Equal(2, o.SortedIndex(0));
        var stack = new ImageStack(2, 1, 6, tilts.SelectMany(t => new[] { (float)t, (float)t }).ToArray());
        var sorted = o.ToSorted(stack);
        Assert.Equal(new float[] { -6, -6, -3, -3, 0, 0, 3, 3, 6, 6, 9, 9 }, sorted.Data);
        Assert.True(ViewOrdering.For(new double[] { -3, 0, 3 }).IsIdentity);
        Assert.Throws<TomalignInputException>(() => ViewOrdering.For(new double[] { 0, 3, 3 }));
    }
}
