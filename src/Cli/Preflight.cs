using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Reconstruction;

namespace Tomalign.Cli;

/// <summary>
/// Checks of the inputs and options that can be made before the long work starts (the stack's header, one angle
/// per view, the output folder, the binning against the image size), so that a bad option is refused at once with
/// exit 2 rather than after the whole alignment. Every failure is a <see cref="TomalignInputException"/>.
/// </summary>
internal static class Preflight
{
    /// <summary>The stack is a readable MRC file, it has one angle per view (the angle file's, else the mdoc's or the extended
    /// header's), and <paramref name="outDir"/> can be written.</summary>
    public static (int Nx, int Ny, int Nz) CheckSeries(string stack, string angles, string outDir, string? mdoc = null)
    {
        int nx, ny, nz;
        using (var reader = MrcReader.Open(stack)) (nx, ny, nz) = (reader.Nx, reader.Ny, reader.Nz);
        if (string.IsNullOrWhiteSpace(angles)) Tomalign.Core.Pipeline.SeriesMetadata.Resolve(stack, null, mdoc, nz);
        else TiltSeriesFiles.ReadAnglesFor(angles, stack, nz);
        CheckWritableFolder(outDir);
        return (nx, ny, nz);
    }

    /// <summary>`run` (and a serve job): the series, and the binning of the aligned stack and tomogram against the image size.</summary>
    public static void CheckRun(Tomalign.Core.Pipeline.PipelineSpec spec)
    {
        var (nx, ny, _) = CheckSeries(spec.Stack, spec.Angles, spec.Out, spec.Mdoc);
        if (spec.Reconstructs) Reconstructor.CheckBinning(spec.Stack, nx, ny, spec.Bin);
        if (spec.Markerless) Commands.CheckPatchGrid(spec.Stack, nx, ny, new Tomalign.Core.Patches.PatchTrackOptions(), Commands.MarkerlessSizeFix);
    }

    /// <summary>Creates <paramref name="dir"/> if needed and writes (then removes) a probe file in it.</summary>
    public static void CheckWritableFolder(string dir)
    {
        string probe = Path.Combine(dir, $".tomalign-probe-{Guid.NewGuid():N}");
        try
        {
            if (File.Exists(dir))
                throw new TomalignInputException(dir, "is a file, not a folder", "give --out a folder (it is created when missing)");
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TomalignInputException(dir, $"the output folder cannot be written ({e.Message})", "give --out a folder you can write to", e);
        }
    }
}
