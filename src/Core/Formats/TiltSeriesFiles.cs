namespace Tomalign.Core.Formats;

/// <summary>Reading the files that come with a stack, checked against its number of views.</summary>
public static class TiltSeriesFiles
{
    /// <summary>Reads an angle file and requires one angle per view of the stack.</summary>
    public static double[] ReadAnglesFor(string anglesPath, string stackPath, int views)
    {
        var angles = ImodText.ReadAngles(anglesPath);
        RequireCount(anglesPath, angles.Length, "angles", stackPath, views);
        return angles;
    }

    /// <summary>Reads a transform file and requires one line per view of the stack.</summary>
    public static Geometry.Xf[] ReadXfFor(string xfPath, string stackPath, int views)
    {
        var xfs = ImodText.ReadXf(xfPath);
        RequireCount(xfPath, xfs.Length, "transforms", stackPath, views);
        return xfs;
    }

    /// <summary>A count mismatch is an error naming both counts and both files.</summary>
    public static void RequireCount(string file, int count, string what, string stackPath, int views)
    {
        if (count != views)
            throw new TomalignInputException(file,
                $"has {count} {what} but {Path.GetFileName(stackPath)} has {views} views",
                $"give exactly one line per view ({views}), in the order of the views in the stack");
    }
}
