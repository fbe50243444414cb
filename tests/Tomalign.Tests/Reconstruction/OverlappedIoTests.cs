using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tomalign.Cli;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reconstruction;
using Tomalign.Cpu;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// The reconstruction's overlapped I/O (rows read ahead, slabs written on a background task) and its in-memory route
/// (`run` reconstructs from the aligned stack it just made): the same bytes as the file route and as one slab computed
/// at a time; failures and cancellation leave no output and no temporary file.
/// </summary>
public sealed class OverlappedIoTests
{
    private static readonly double[] Tilts = [-54, -36, -18, 0, 18, 36, 54];

    /// <summary>A random aligned stack (positive, so that --log applies) with pixel size 1.7 Å, written to a.ali.</summary>
    private static ImageStack WriteStack(TempDir dir, int nx = 40, int ny = 24, int seed = 11)
    {
        var rng = new Random(seed);
        var stack = new ImageStack(nx, ny, Tilts.Length);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)(0.5 + rng.NextDouble());
        MrcWriter.WriteStack(dir.File("a.ali"), stack, options: new MrcWriteOptions { PixelSizeAngstrom = 1.7 });
        return stack;
    }

    private static (MrcHeader Header, float[] Data) ReadVolume(string path)
    {
        using var r = MrcReader.Open(path);
        return (r.Header, r.ReadAll().Data);
    }

    private static void AssertSameVolume(string expected, string actual)
    {
        var (he, e) = ReadVolume(expected);
        var (ha, a) = ReadVolume(actual);
        Assert.Equal((he.Nx, he.Ny, he.Nz, he.Mode), (ha.Nx, ha.Ny, ha.Nz, ha.Mode));
        Assert.Equal(he.PixelSizeX, ha.PixelSizeX);
        Assert.Contains(e, v => v != 0);
        // Bit for bit: the same floats, not merely close ones.
        var ei = MemoryMarshal.Cast<float, int>(e); var ai = MemoryMarshal.Cast<float, int>(a);
        int first = -1;
        for (int k = 0; k < ei.Length && first < 0; k++) if (ei[k] != ai[k]) first = k;
        Assert.True(first < 0, $"{actual} differs from {expected} first at voxel {first}: {(first >= 0 ? a[first] : 0)} vs {(first >= 0 ? e[first] : 0)}");
    }

    /// <summary>What is left in the folder besides the input stack (outputs and temporary files).</summary>
    private static string[] Leftovers(TempDir dir, params string[] inputs) =>
        dir.Files().Where(f => !inputs.Contains(f)).ToArray();

    public static TheoryData<ReconstructionMethod, int, bool, double, VolumeLayout> Cases => new()
    {
        { ReconstructionMethod.Wbp, 1, false, 0.0, VolumeLayout.Xyz },
        { ReconstructionMethod.Wbp, 2, true, 6.0, VolumeLayout.Xyz },
        { ReconstructionMethod.Wbp, 1, true, 0.0, VolumeLayout.ImodYSlices },
        { ReconstructionMethod.Sirt, 1, false, 0.0, VolumeLayout.Xyz },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheInMemoryRouteGivesTheFileRoutesVolumeBitForBit(ReconstructionMethod method, int bin, bool log, double xTilt, VolumeLayout layout)
    {
        using var dir = new TempDir();
        var stack = WriteStack(dir);
        var o = new ReconstructionOptions { Thickness = 10, Method = method, Iterations = 3, Bin = bin, Log = log, XAxisTiltDegrees = xTilt, Layout = layout, SlabMemoryBytes = 12_000 };
        var fromFile = new Reconstructor(new CpuBackend()).Run(dir.File("a.ali"), Tilts, dir.File("file.rec"), o);
        double pixel;
        using (var r = MrcReader.Open(dir.File("a.ali"))) pixel = r.Header.PixelSizeX;
        var fromMemory = new Reconstructor(new CpuBackend()).Run(stack, pixel, dir.File("a.ali"), Tilts, dir.File("memory.rec"), o);
        Assert.True(fromFile.Slabs > 2, $"only {fromFile.Slabs} slab(s): the test would not exercise the overlap");
        Assert.Equal(fromFile.Slabs, fromMemory.Slabs);
        AssertSameVolume(dir.File("file.rec"), dir.File("memory.rec"));
    }

    /// <summary>
    /// Many slabs, each read ahead and written in the background while the next is computed, give the bytes of one
    /// slab holding the whole volume (read, computed and written one after the other), in both layouts. (Not with an
    /// x-axis tilt: there each slab's row band has its own origin, and positions round differently.)
    /// </summary>
    [Theory]
    [InlineData(VolumeLayout.Xyz)]
    [InlineData(VolumeLayout.ImodYSlices)]
    public void ManySlabsWrittenInTheBackgroundGiveTheBytesOfOneSlab(VolumeLayout layout)
    {
        using var dir = new TempDir();
        WriteStack(dir, nx: 48, ny: 30);
        var o = new ReconstructionOptions { Thickness = 12, Layout = layout, SlabMemoryBytes = 1L << 30 };
        var one = new Reconstructor(new CpuBackend()).Run(dir.File("a.ali"), Tilts, dir.File("one.rec"), o);
        var written = new List<int>();
        var many = new Reconstructor(new CpuBackend()) { AfterSlabWritten = i => { lock (written) written.Add(i); } }
            .Run(dir.File("a.ali"), Tilts, dir.File("many.rec"), o with { SlabMemoryBytes = 12_000 });
        Assert.Equal(1, one.Slabs);
        Assert.True(many.Slabs >= 8, $"{many.Slabs} slabs");
        Assert.Equal(Enumerable.Range(0, many.Slabs), written);   // every slab written once, in order
        AssertSameVolume(dir.File("one.rec"), dir.File("many.rec"));
    }

    /// <summary>The same slabs overlapped (read ahead, written behind) and one after the other give the same bytes, with and without an x-axis tilt.</summary>
    [Theory]
    [InlineData(ReconstructionMethod.Wbp, 0.0, VolumeLayout.Xyz)]
    [InlineData(ReconstructionMethod.Wbp, 6.0, VolumeLayout.Xyz)]
    [InlineData(ReconstructionMethod.Wbp, -4.0, VolumeLayout.ImodYSlices)]
    [InlineData(ReconstructionMethod.Sirt, 0.0, VolumeLayout.Xyz)]
    public void OverlappedSlabsGiveTheBytesOfSlabsOneAfterTheOther(ReconstructionMethod method, double xTilt, VolumeLayout layout)
    {
        using var dir = new TempDir();
        WriteStack(dir, nx: 48, ny: 30);
        var o = new ReconstructionOptions { Thickness = 12, Method = method, Iterations = 3, Layout = layout, XAxisTiltDegrees = xTilt, SlabMemoryBytes = 25_000 };
        var sequential = new Reconstructor(new CpuBackend()) { Overlapped = false }.Run(dir.File("a.ali"), Tilts, dir.File("seq.rec"), o);
        var overlapped = new Reconstructor(new CpuBackend()).Run(dir.File("a.ali"), Tilts, dir.File("ovl.rec"), o);
        Assert.True(overlapped.Slabs >= 4, $"{overlapped.Slabs} slabs");
        Assert.Equal(sequential.Slabs, overlapped.Slabs);
        AssertSameVolume(dir.File("seq.rec"), dir.File("ovl.rec"));
    }

    [Fact]
    public void AFailureOnTheWritingTaskSurfacesAsItselfAndLeavesNothing()
    {
        using var dir = new TempDir();
        var stack = WriteStack(dir);
        var o = new ReconstructionOptions { Thickness = 10, SlabMemoryBytes = 20_000 };
        var failing = new Reconstructor(new CpuBackend())
        {
            AfterSlabWritten = i => { if (i == 2) throw new TomalignInputException(dir.File("x.rec"), "cannot write section 3 (No space left on device)", "check free disk space"); },
        };
        var e = Assert.Throws<TomalignInputException>(() => failing.Run(dir.File("a.ali"), Tilts, dir.File("x.rec"), o));
        Assert.Contains("No space left", e.Message);
        Assert.Empty(Leftovers(dir, "a.ali"));
        e = Assert.Throws<TomalignInputException>(() => failing.Run(stack, 1.7, dir.File("a.ali"), Tilts, dir.File("x.rec"), o));
        Assert.Contains("No space left", e.Message);
        Assert.Empty(Leftovers(dir, "a.ali"));
    }

    /// <summary>A destination that cannot take the output (a folder of that name): the commit fails, nothing is left.</summary>
    [Fact]
    public void AnOutputThatCannotBeCommittedLeavesNoTemporaryFile()
    {
        using var dir = new TempDir();
        WriteStack(dir);
        Directory.CreateDirectory(dir.File("x.rec"));
        var e = Assert.Throws<TomalignInputException>(() => new Reconstructor(new CpuBackend())
            .Run(dir.File("a.ali"), Tilts, dir.File("x.rec"), new ReconstructionOptions { Thickness = 10, SlabMemoryBytes = 20_000 }));
        Assert.Contains("x.rec", e.Message);
        Assert.Empty(Leftovers(dir, "a.ali", "x.rec"));
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("x.rec")));
    }

    [Fact]
    public void ANaNInALaterSlabIsReportedFromTheReadAheadAndNothingIsWritten()
    {
        using var dir = new TempDir();
        var stack = WriteStack(dir);
        stack[7, 20, 3] = float.NaN;
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        var o = new ReconstructionOptions { Thickness = 10, SlabMemoryBytes = 20_000 };
        var e = Assert.Throws<TomalignInputException>(() => new Reconstructor(new CpuBackend()).Run(dir.File("a.ali"), Tilts, dir.File("x.rec"), o));
        Assert.Contains("a.ali", e.Message);
        Assert.Contains("view 3", e.Message);
        Assert.Empty(Leftovers(dir, "a.ali"));
    }

    /// <summary>Cancels its token when the first progress (a slab written) is reported.</summary>
    private sealed class CancelOnFirstReport(CancellationTokenSource cts) : IProgress<double>
    {
        public int Reports;
        public void Report(double value) { Reports++; cts.Cancel(); }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CancellingMidRunLeavesNothing(bool fromMemory)
    {
        using var dir = new TempDir();
        var stack = WriteStack(dir);
        var o = new ReconstructionOptions { Thickness = 10, SlabMemoryBytes = 20_000 };
        using var cts = new CancellationTokenSource();
        var progress = new CancelOnFirstReport(cts);
        var rec = new Reconstructor(new CpuBackend());
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            if (fromMemory) rec.Run(stack, 1.7, dir.File("a.ali"), Tilts, dir.File("x.rec"), o, progress, cts.Token);
            else rec.Run(dir.File("a.ali"), Tilts, dir.File("x.rec"), o, progress, cts.Token);
        });
        Assert.Equal(1, progress.Reports);   // cancelled after the first slab, not before it or at the end
        Assert.Empty(Leftovers(dir, "a.ali"));
    }

    /// <summary>A raw stack and transforms (small rotations and shifts) for the aligned-stack tests.</summary>
    private static (string Raw, Xf[] Xfs) WriteRaw(TempDir dir)
    {
        var rng = new Random(4);
        var raw = new ImageStack(64, 48, Tilts.Length);
        for (int i = 0; i < raw.Data.Length; i++) raw.Data[i] = (float)(1 + rng.NextDouble());
        MrcWriter.WriteStack(dir.File("raw.mrc"), raw, options: new MrcWriteOptions { PixelSizeAngstrom = 2.3 });
        var xfs = Enumerable.Range(0, Tilts.Length).Select(i =>
        {
            double a = (i - 3) * 0.7 * Math.PI / 180;
            return new Xf(Math.Cos(a), -Math.Sin(a), Math.Sin(a), Math.Cos(a), 0.3 * i - 1, 1.1 - 0.2 * i);
        }).ToArray();
        ImodText.WriteXf(dir.File("raw.xf"), xfs);
        return (dir.File("raw.mrc"), xfs);
    }

    [Theory]
    [InlineData(MrcMode.Float32)]
    [InlineData(MrcMode.Float16)]
    public void TheAlignedStackInMemoryIsWhatItsFileHolds(MrcMode mode)
    {
        using var dir = new TempDir();
        var (raw, xfs) = WriteRaw(dir);
        var options = new ApplyOptions { Bin = 2, OutputMode = mode, ChunkBytes = 40_000 };
        var apply = new ApplyTransforms(new CpuBackend(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        apply.Run(raw, xfs, dir.File("raw.xf"), dir.File("file.ali"), options);
        var aligned = apply.RunInMemory(raw, xfs, dir.File("raw.xf"), dir.File("memory.ali"), options);
        Assert.False(File.Exists(dir.File("memory.ali")));   // not written until asked
        Assert.Equal(4L * 32 * 24 * Tilts.Length, ApplyTransforms.AlignedBytes(raw, options));
        aligned.Write();
        AssertSameVolume(dir.File("file.ali"), dir.File("memory.ali"));
        var (header, data) = ReadVolume(dir.File("memory.ali"));
        Assert.Equal(header.PixelSizeX, aligned.StoredPixelSizeX);
        Assert.Equal(2 * 2.3, header.PixelSizeX, 1e-5);   // binned by 2 (the raw stack's own pixel size was kept before)
        Assert.Equal(2 * 2.3, header.PixelSizeY, 1e-5);
        Assert.True(MemoryMarshal.Cast<float, int>(data).SequenceEqual(MemoryMarshal.Cast<float, int>(aligned.Stack.Data)), "memory and file pixels differ");
    }

    private static CliContext Quiet() => new(TextWriter.Null, TextWriter.Null, LogLevel.Warning, progress: false);

    /// <summary>
    /// `run`'s handoff: the tomogram reconstructed from the aligned stack in memory while NAME.ali is written beside it
    /// is the one reconstructed from NAME.ali afterwards, and NAME.ali is the stack.
    /// </summary>
    [Fact]
    public void ReconstructingWhileWritingTheAlignedStackGivesTheFileRoutesTomogram()
    {
        using var dir = new TempDir();
        var (raw, xfs) = WriteRaw(dir);
        var aligned = new ApplyTransforms(new CpuBackend(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            .RunInMemory(raw, xfs, dir.File("raw.xf"), dir.File("s.ali"), new ApplyOptions { Bin = 2 });
        var o = new ReconstructionOptions { Thickness = 8, Log = true, SlabMemoryBytes = 10_000 };
        using var ctx = Quiet();
        var summary = Commands.ReconstructWhileWriting(ctx, new CpuBackend(), aligned, Tilts, dir.File("memory.rec"), o, CancellationToken.None);
        Assert.True(summary.Slabs > 2);
        new Reconstructor(new CpuBackend()).Run(dir.File("s.ali"), Tilts, dir.File("file.rec"), o);
        AssertSameVolume(dir.File("file.rec"), dir.File("memory.rec"));
        var (_, ali) = ReadVolume(dir.File("s.ali"));
        Assert.True(MemoryMarshal.Cast<float, int>(ali).SequenceEqual(MemoryMarshal.Cast<float, int>(aligned.Stack.Data)));
        Assert.Empty(Leftovers(dir, "raw.mrc", "raw.xf", "s.ali", "memory.rec", "file.rec"));
    }

    /// <summary>The aligned stack cannot be written (a folder holds its name): the run fails with that error, and no tomogram is committed.</summary>
    [Fact]
    public void AFailedAlignedStackWriteFailsTheRunAndCommitsNoTomogram()
    {
        using var dir = new TempDir();
        var (raw, xfs) = WriteRaw(dir);
        var aligned = new ApplyTransforms(new CpuBackend(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            .RunInMemory(raw, xfs, dir.File("raw.xf"), dir.File("s.ali"), new ApplyOptions { Bin = 2 });
        Directory.CreateDirectory(dir.File("s.ali"));
        using var ctx = Quiet();
        var e = Assert.Throws<TomalignInputException>(() => Commands.ReconstructWhileWriting(ctx, new CpuBackend(), aligned, Tilts, dir.File("s.rec"),
            new ReconstructionOptions { Thickness = 8, SlabMemoryBytes = 10_000 }, CancellationToken.None));
        Assert.Contains("s.ali", e.Message);
        Assert.Empty(Leftovers(dir, "raw.mrc", "raw.xf", "s.ali"));
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("s.ali")));
    }

    /// <summary>A cancelled reconstruction leaves no tomogram; the aligned stack is finished whole (as when it was written before the reconstruction), for --resume.</summary>
    [Fact]
    public void ACancelledRunLeavesTheWholeAlignedStackAndNoTomogram()
    {
        using var dir = new TempDir();
        var (raw, xfs) = WriteRaw(dir);
        var aligned = new ApplyTransforms(new CpuBackend(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            .RunInMemory(raw, xfs, dir.File("raw.xf"), dir.File("s.ali"), new ApplyOptions { Bin = 2 });
        using var ctx = Quiet();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Commands.ReconstructWhileWriting(ctx, new CpuBackend(), aligned, Tilts, dir.File("s.rec"),
            new ReconstructionOptions { Thickness = 8, SlabMemoryBytes = 10_000 }, cts.Token));
        Assert.Empty(Leftovers(dir, "raw.mrc", "raw.xf", "s.ali"));
        var (_, ali) = ReadVolume(dir.File("s.ali"));
        Assert.True(MemoryMarshal.Cast<float, int>(ali).SequenceEqual(MemoryMarshal.Cast<float, int>(aligned.Stack.Data)));
    }
}
